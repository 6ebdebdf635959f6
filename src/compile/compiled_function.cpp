// aot_compile_joint_with_descriptors: partition, compile both halves, and wrap them
// in the module's calling convention with one autograd node.
#include <algorithm>
#include <chrono>

#include "aotgrad/autograd.h"
#include "aotgrad/ops.h"
#include "compile/pipeline.h"
#include "compile/program.h"
#include "hop/register.h"
#include "support/error.h"

namespace aotgrad::compile {

class CompiledFunctionImpl : public std::enable_shared_from_this<CompiledFunctionImpl> {
 public:
  std::string name;
  exporting::JointWithDescriptors joint;
  partition::Partition partition;
  std::unique_ptr<Program> forward, backward;
  /// Per primal: its placeholder (name, descriptor, value).
  std::vector<const graph::Node*> primals;
  /// Per forward output (mutations, then user outputs): the index of its tangent, or -1.
  std::vector<int> tangent_of;
  double compile_ms = 0;

  std::string signature() const;
  void check_primal(size_t i, const Tensor& t) const;
  TensorList call(const TensorList& primals) const;
};

namespace {
std::string describe_placeholder(const graph::Node* p) {
  return p->name() + ": " + p->meta.val.as_tensor().str() + " " + p->meta.desc->str();
}

// The tensor laid out as the compiled graph expects (a contiguous copy, say).
Tensor with_layout(const Tensor& t, const graph::TensorVal& want) {
  if (t.strides() == want.strides) return t;
  Tensor c = aotgrad::contiguous(t);
  AG_CHECK(c.strides() == want.strides,
           "compiled function: an input laid out with strides {} is needed, but the "
           "tensor passed has strides {}",
           shape_str(want.strides), shape_str(t.strides()));
  return c;
}
}  // namespace

std::string CompiledFunctionImpl::signature() const {
  std::string s = "(";
  for (size_t i = 0; i < primals.size(); ++i) s += (i ? ", " : "") + describe_placeholder(primals[i]);
  s += ") -> (";
  const auto& descs = exporting::output_descriptors(*joint.graph_module);
  const auto& values = joint.graph_module->graph->output_node()->args()[0].list();
  bool first = true;
  for (size_t i = static_cast<size_t>(joint.metadata.num_mutated_inputs);
       i < static_cast<size_t>(joint.metadata.num_forward_outputs); ++i) {
    s += (first ? "" : ", ") + values[i].node()->meta.val.as_tensor().str() + " " + descs[i]->str();
    first = false;
  }
  return s + ")";
}

void CompiledFunctionImpl::check_primal(size_t i, const Tensor& t) const {
  const graph::Node* p = primals[i];
  const graph::TensorVal& want = p->meta.val.as_tensor();
  auto fail = [&](const std::string& got) {
    AG_FAIL("compiled {}: argument {} ({}) must be {}, but got {}; the compiled function takes {}", name, i,
            p->meta.desc->str(), want.str(), got, signature());
  };
  if (!t.defined()) fail("an undefined tensor");
  if (t.sizes() != want.sizes || t.dtype() != want.dtype)
    fail(std::string(dtype_abbrev(t.dtype())) + shape_str(t.sizes()));
}

TensorList CompiledFunctionImpl::call(const TensorList& given) const {
  AG_CHECK(given.size() == primals.size(),
           "compiled {}: expected {} tensors (parameters, buffers, then inputs), but "
           "got {}; the compiled function takes {}",
           name, primals.size(), given.size(), signature());
  for (size_t i = 0; i < given.size(); ++i) check_primal(i, given[i]);
  const auto& meta = joint.metadata;
  const auto num_mutated = static_cast<size_t>(meta.num_mutated_inputs);

  // The forward: run the program, write mutated inputs back, keep the saved values.
  auto run_forward = [this, num_mutated, &meta](const TensorList& inputs, TensorList& saved) {
    std::vector<Tensor> in;
    in.reserve(inputs.size());
    for (size_t i = 0; i < inputs.size(); ++i) in.push_back(with_layout(inputs[i], primals[i]->meta.val.as_tensor()));
    std::vector<Tensor> out = forward->run(std::move(in));
    const auto num_fw = static_cast<size_t>(partition.num_forward_outputs);
    size_t m = 0;
    for (size_t i = 0; i < inputs.size() && m < num_mutated; ++i) {
      if (!meta.input_mutated[i]) continue;
      autograd::NoGradGuard no_grad;
      aotgrad::copy_(inputs[i].detach(), out[m++]);
    }
    // Saved values get handles of their own: a saved value that is also returned
    // would otherwise carry the autograd node its own context belongs to (a cycle).
    saved.clear();
    for (size_t k = num_fw; k < out.size(); ++k) saved.push_back(out[k].defined() ? out[k].detach() : Tensor());
    return TensorList(out.begin() + static_cast<std::ptrdiff_t>(num_mutated),
                      out.begin() + static_cast<std::ptrdiff_t>(num_fw));
  };

  bool needs_grad = autograd::is_grad_enabled() && meta.num_tangents > 0;
  if (needs_grad) {
    bool any = false;
    for (const Tensor& t : given) any = any || t.requires_grad();
    needs_grad = any;
  }
  if (!needs_grad) {
    TensorList saved;
    return run_forward(given, saved);
  }

  TensorList outs = autograd::apply_function(
      "CompiledFunctionBackward", given,
      [&](autograd::FunctionContext& ctx, const TensorList& inputs) {
        TensorList saved;
        TensorList user = run_forward(inputs, saved);
        ctx.save_for_backward(std::move(saved));
        return user;
      },
      // The node outlives this call (and maybe the CompiledFunction): it owns the program.
      [this, self = shared_from_this(), num_mutated](autograd::FunctionContext& ctx, const TensorList& grad_outputs) {
        AG_CHECK(ctx.values.empty(),
                 "compiled {}: backward ran twice through one call; its saved values are freed after the first", name);
        ctx.values.emplace_back(true);  // the saved values are handed to the backward program below
        std::vector<Tensor> in = std::move(ctx.saved);
        ctx.saved.clear();
        const auto& phs = partition.backward->graph->placeholders();
        for (size_t o = 0; o < tangent_of.size(); ++o) {
          if (tangent_of[o] < 0) continue;
          const graph::TensorVal& want =
              phs[partition.saved.size() + static_cast<size_t>(tangent_of[o])]->meta.val.as_tensor();
          Tensor g = o >= num_mutated ? grad_outputs[o - num_mutated] : Tensor();
          if (!g.defined()) g = Tensor::zeros(want.sizes, want.dtype);
          in.push_back(with_layout(g, want));
        }
        std::vector<Tensor> grads = backward->run(std::move(in));
        return TensorList(grads.begin(), grads.end());
      });
  // Outputs with no tangent carry no gradient.
  for (size_t k = 0; k < outs.size(); ++k)
    if (tangent_of[num_mutated + k] < 0 && outs[k].defined()) outs[k] = outs[k].detach();
  return outs;
}

TensorList CompiledFunction::call_flat(const TensorList& primals) const {
  return impl_->call(primals);
}

pytree::Value CompiledFunction::operator()(const nn::Args& args, const nn::Kwargs& kwargs) const {
  const CompiledFunctionImpl& f = *impl_;
  const size_t num_state = f.joint.params_spec.size() + f.joint.buffers_spec.size();
  AG_CHECK(args.size() >= num_state,
           "compiled {}: expected {} parameters and {} buffers before the inputs, but got "
           "{} arguments; the compiled function takes {}",
           f.name, f.joint.params_spec.size(), f.joint.buffers_spec.size(), args.size(), f.signature());
  TensorList primals;
  for (size_t i = 0; i < num_state; ++i) {
    AG_CHECK(args[i].is_leaf() && args[i].leaf().is_tensor(),
             "compiled {}: argument {} ({}) must be a tensor; the "
             "compiled function takes {}",
             f.name, i, f.primals[i]->meta.desc->str(), f.signature());
    primals.push_back(args[i].tensor());
  }
  nn::Args user(args.begin() + static_cast<std::ptrdiff_t>(num_state), args.end());
  auto [leaves, spec] =
      pytree::flatten(pytree::Value::tuple({pytree::Value::tuple(user), pytree::Value::dict(kwargs)}));
  AG_CHECK(spec == f.joint.in_spec,
           "compiled {}: the inputs have the structure {}, but the function was exported "
           "with {}; the compiled function takes {}",
           f.name, spec.str(), f.joint.in_spec.str(), f.signature());
  for (size_t i = 0; i < leaves.size(); ++i) {
    AG_CHECK(leaves[i].is_tensor(), "compiled {}: user input {} is {}, but only tensors are inputs", f.name, i,
             leaves[i].type_name());
    primals.push_back(leaves[i].to_tensor());
  }
  TensorList outs = f.call(primals);
  std::vector<IValue> out_leaves(outs.begin(), outs.end());
  return pytree::unflatten(out_leaves, f.joint.out_spec);
}

pytree::Value CompiledFunction::call_module(nn::Module& module, const nn::Args& args, const nn::Kwargs& kwargs) const {
  const CompiledFunctionImpl& f = *impl_;
  nn::Args all;
  all.reserve(f.primals.size());
  // The module lists its tensors in the order the export saw them, unless it changed.
  auto add = [&](const nn::NamedTensors& named, const std::vector<std::string>& spec, const char* what) {
    for (size_t i = 0; i < spec.size(); ++i) {
      if (i < named.size() && named[i].first == spec[i]) {
        all.emplace_back(named[i].second);
        continue;
      }
      auto it = std::find_if(named.begin(), named.end(), [&](const auto& n) { return n.first == spec[i]; });
      AG_CHECK(it != named.end(), "compiled {}: the module has no {} '{}', which the function was exported with",
               f.name, what, spec[i]);
      all.emplace_back(it->second);
    }
  };
  add(module.named_parameters(), f.joint.params_spec, "parameter");
  add(module.named_buffers(), f.joint.buffers_spec, "buffer");
  all.insert(all.end(), args.begin(), args.end());
  return (*this)(all, kwargs);
}

std::string CompiledFunction::signature() const {
  return impl_->signature();
}
const partition::Partition& CompiledFunction::partition() const {
  return impl_->partition;
}
ProgramStats CompiledFunction::forward_stats() const {
  return impl_->forward->stats();
}
ProgramStats CompiledFunction::backward_stats() const {
  return impl_->backward->stats();
}
double CompiledFunction::compile_ms() const {
  return impl_->compile_ms;
}

CompiledFunction aot_compile_joint_with_descriptors(const exporting::JointWithDescriptors& joint,
                                                    const CompileOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  AG_CHECK(joint.graph_module != nullptr, "aot_compile_joint_with_descriptors: the joint has no graph");
  hop::register_higher_order_ops();
  auto f = std::make_shared<CompiledFunctionImpl>();
  f->name = joint.graph_module->name.empty() ? "graph" : joint.graph_module->name;
  f->joint = joint;
  try {
    CompileState state = run_pipeline(joint, options);
    f->partition = std::move(state.partition);
    const auto phs = joint.graph_module->graph->placeholders();
    for (const graph::Node* p : phs) {
      AG_CHECK(p->meta.desc.has_value(), "placeholder '{}' has no descriptor", p->name());
      if (p->meta.desc->kind() != Descriptor::Kind::TangentInput) f->primals.push_back(p);
    }
    AG_CHECK(static_cast<int64_t>(f->primals.size()) == joint.metadata.num_primals,
             "the graph has {} primal placeholders, but its metadata says {}", f->primals.size(),
             joint.metadata.num_primals);
    // Tangents are in the order of the forward outputs they belong to.
    const auto& descs = exporting::output_descriptors(*joint.graph_module);
    f->tangent_of.assign(static_cast<size_t>(joint.metadata.num_forward_outputs), -1);
    int next = 0;
    for (const graph::Node* p : phs) {
      if (p->meta.desc->kind() != Descriptor::Kind::TangentInput) continue;
      bool found = false;
      for (size_t o = 0; o < f->tangent_of.size() && !found; ++o) {
        if (descs[o] && *descs[o] == p->meta.desc->inner() && f->tangent_of[o] < 0) {
          f->tangent_of[o] = next++;
          found = true;
        }
      }
      AG_CHECK(found, "tangent '{}' ({}) belongs to no forward output", p->name(), p->meta.desc->str());
    }
    f->forward = state.unit("forward").draft->finish();
    f->backward = state.unit("backward").draft->finish();
  } catch (Error& e) {
    e.add_context("while compiling " + f->name);
    throw;
  }
  f->compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  CompiledFunction result;
  result.impl_ = std::move(f);
  return result;
}

}  // namespace aotgrad::compile
