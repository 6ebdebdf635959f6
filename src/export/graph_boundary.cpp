#include "export/graph_boundary.h"

#include "support/error.h"

namespace aotgrad::exporting::detail {

Tensor GraphInputs::add(const std::string& name, const Tensor& like, bool requires_grad, Descriptor desc,
                        const std::vector<int64_t>& dynamic_dims) {
  Tensor p = tracer_.placeholder(name, like, requires_grad, dynamic_dims);
  gm_.graph->placeholders().back()->meta.desc = desc;
  proxies_.push_back(p);
  descs_.push_back(std::move(desc));
  storage_.push_back(like.is_meta() ? nullptr : like.impl()->storage.get());
  return p;
}

pytree::Value GraphInputs::add_call(const nn::Args& args, const nn::Kwargs& kwargs,
                                    const std::function<std::string(size_t)>& name_of, bool differentiable,
                                    const char* who, pytree::TreeSpec& spec, const std::vector<DynamicDim>& dynamic) {
  pytree::Value call = pytree::Value::tuple({pytree::Value::tuple(args), pytree::Value::dict(kwargs)});
  auto [leaves, in_spec] = pytree::flatten(call);
  for (const DynamicDim& d : dynamic)
    AG_CHECK(d.input >= 0 && static_cast<size_t>(d.input) < leaves.size(),
             "{}: a dynamic dim names user input {}, but the call has {}", who, d.input, leaves.size());
  std::vector<IValue> proxies;
  for (size_t i = 0; i < leaves.size(); ++i) {
    std::vector<int64_t> dims;
    for (const DynamicDim& d : dynamic)
      if (static_cast<size_t>(d.input) == i) dims.push_back(d.dim);
    AG_CHECK(leaves[i].is_tensor() && leaves[i].to_tensor().defined(),
             "{}: user input {} (flattened, kwargs after args) is {}, but only tensors can be graph inputs", who, i,
             leaves[i].type_name());
    const Tensor& t = leaves[i].to_tensor();
    proxies.emplace_back(add(name_of(i), t, differentiable && t.requires_grad(),
                             Descriptor::plain_input(static_cast<int64_t>(i)), dims));
  }
  spec = in_spec;
  return pytree::unflatten(proxies, in_spec);
}

std::vector<size_t> GraphInputs::mutated() const {
  std::vector<size_t> written;
  for (size_t i = 0; i < proxies_.size(); ++i)
    if (tracer_.was_mutated(proxies_[i])) written.push_back(i);
  return written;
}

void GraphInputs::check_written_inputs_do_not_alias(const std::vector<size_t>& written) const {
  // A write into an input that shares storage with another input would silently miss
  // the other one in a functional graph.
  for (size_t i : written) {
    if (storage_[i] == nullptr) continue;
    for (size_t j = 0; j < storage_.size(); ++j)
      AG_CHECK(j == i || storage_[j] != storage_[i],
               "export: {} is written in place, but it shares storage with {}; a mutation of aliased inputs cannot be "
               "made functional (pass a clone of one of them)",
               descs_[i].str(), descs_[j].str());
  }
}

void check_nothing_specialized(const ops::ShapeEnv& env, const graph::GraphModule& gm) {
  if (env.pins().empty()) return;
  std::string what;
  for (const ops::ShapeEnv::Pin& pin : env.pins()) {
    const auto& src = gm.symbols.at(static_cast<size_t>(pin.symbol));
    const graph::Node* input = gm.graph->find(src.placeholder);
    const std::string input_name =
        input != nullptr && input->meta.desc ? src.placeholder + ", " + input->meta.desc->str() : src.placeholder;
    std::string where;
    if (const graph::Node* n = gm.graph->find(pin.node)) {
      if (const StackFrame* f = n->meta.stack_trace.innermost())
        where = fmt::format(" (File: {}:{} in {}, code: {})", f->file, f->line, f->function, f->code);
      else if (const std::string provenance = n->meta.stack_trace.first_verbatim_line(); !provenance.empty())
        where = " (" + provenance + ")";  // an imported model's node: "ONNX node: /view/Reshape"
    }
    what += fmt::format("{}dim {} of input '{}' (s{}) is fixed at {} by {}{}", what.empty() ? "" : "; ", src.dim,
                        input_name, pin.symbol, pin.value, pin.reason, where);
  }
  AG_FAIL(
      "dynamic shapes: the model fixes {} size(s) marked dynamic: {}. Leave these dims static, or change the model "
      "so they can vary",
      env.pins().size(), what);
}

void GraphOutputs::add(const Tensor& value, Descriptor desc) {
  values_.emplace_back(tracer_.node_of(value));
  descs_.emplace_back(std::move(desc));
}

void GraphOutputs::add_none() {
  values_.emplace_back();
  descs_.emplace_back(std::nullopt);
}

void GraphOutputs::add_mutations(const GraphInputs& inputs, const std::vector<size_t>& written) {
  for (size_t i : written) add(inputs.proxy(i), Descriptor::input_mutation(inputs.desc(i)));
}

graph::Node* GraphOutputs::finish(graph::GraphModule& gm) {
  graph::Node* out = gm.graph->output(std::move(values_));
  out->meta.out_descs = std::move(descs_);
  return out;
}

pytree::TreeSpec flat_list_spec(size_t n) {
  pytree::TreeSpec s;
  s.kind = pytree::Value::Kind::List;
  s.children.assign(n, pytree::TreeSpec{});
  return s;
}

}  // namespace aotgrad::exporting::detail
