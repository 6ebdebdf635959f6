// The two sources of an export's forward (forward_source.h).
#include "export/forward_source.h"

#include "aotgrad/annotate.h"
#include "hop/replay.h"
#include "support/error.h"

namespace aotgrad::exporting::detail {

ForwardSource module_source(nn::Module& module) {
  ForwardSource s;
  s.name = "module '" + module.type_name() + "'";
  for (auto& [name, slot] : module.parameter_slots()) s.params.push_back({name, *slot, slot->requires_grad()});
  for (auto& [name, slot] : module.buffer_slots()) s.buffers.push_back({name, *slot, false});
  s.run = [&module](const TensorList& params, const TensorList& buffers, const pytree::Value& call, trace::Tracer&) {
    // A functional call: the module reads proxies while it runs, and gets its own
    // tensors back however the call ends.
    nn::SlotSwap swapped;
    size_t i = 0;
    for (auto& [name, slot] : module.parameter_slots()) swapped.swap(slot, params[i++]);
    i = 0;
    for (auto& [name, slot] : module.buffer_slots()) swapped.swap(slot, buffers[i++]);
    pytree::Value out = module(call[0].items(), call[1].entries());
    return pytree::flatten(out);
  };
  return s;
}

// Runs a captured graph on proxies, each node with its recorded annotations and
// stack trace in force, so the autograd nodes it makes carry them into the backward.
namespace {
// Runs a captured node with its annotations and stack trace in force, but not
// invoke_subgraph's call_id: that is the recorded call's own, and the replayed call is
// given one again.
void run_in_recorded_context(const graph::Node& n, const std::function<void()>& run) {
  Annotations custom;
  for (const auto& entry : n.meta.custom)
    if (entry.first != "call_id") custom.push_back(entry);
  annotate scope(custom);
  StackTraceOverride trace(n.meta.stack_trace);
  run();
}
}  // namespace

ForwardSource captured_source(const graph::GraphModule& captured) {
  ForwardSource s;
  s.name = "the captured graph '" + captured.name + "'";
  AG_CHECK(captured.call_in_spec && captured.call_out_spec,
           "export: the graph was not made by capture_forward (it has no call specs)");
  for (const graph::Node* p : captured.graph->placeholders()) {
    AG_CHECK(p->meta.desc.has_value(), "export: captured placeholder '{}' has no descriptor", p->name());
    const Descriptor& d = *p->meta.desc;
    const graph::TensorVal& v = p->meta.val.as_tensor();
    Tensor example = Tensor::meta(v.sizes, v.dtype, v.strides);
    if (d.kind() == Descriptor::Kind::ParamInput) s.params.push_back({d.target(), example, true});
    if (d.kind() == Descriptor::Kind::BufferInput) s.buffers.push_back({d.target(), example, false});
  }
  s.run = [&captured](const TensorList& params, const TensorList& buffers, const pytree::Value& call,
                      trace::Tracer& tracer) {
    auto [user, spec] = pytree::flatten(call);
    AG_CHECK(spec == *captured.call_in_spec,
             "export: the inputs have the structure {}, but the graph was "
             "captured with {}",
             spec.str(), captured.call_in_spec->str());
    std::vector<IValue> inputs;
    size_t pi = 0, bi = 0;
    for (const graph::Node* p : captured.graph->placeholders()) {
      const Descriptor& d = *p->meta.desc;
      if (d.kind() == Descriptor::Kind::ParamInput)
        inputs.emplace_back(params.at(pi++));
      else if (d.kind() == Descriptor::Kind::BufferInput)
        inputs.emplace_back(buffers.at(bi++));
      else
        inputs.push_back(user.at(static_cast<size_t>(d.idx())));
    }
    graph::NodeWrapper in_context = run_in_recorded_context;
    // Higher-order nodes are called again as higher-order ops, not run as kernels.
    auto replay = [in_context](const graph::GraphModule& owner, const graph::Node& n,
                               const std::vector<Tensor>& operands) {
      return hop_detail::replay_higher_order(owner, n, operands, in_context);
    };
    std::vector<IValue> values = graph::interpret(captured, inputs, in_context, replay);
    // Mutated inputs take their new values; the rest are the user's outputs.
    std::vector<IValue> outputs;
    const auto& descs = captured.graph->output_node()->meta.out_descs;
    for (size_t i = 0; i < values.size(); ++i) {
      const Descriptor& d = *descs.at(i);
      if (d.kind() == Descriptor::Kind::InputMutationOutput) {
        const Descriptor& in = d.inner();
        for (size_t k = 0; k < captured.graph->placeholders().size(); ++k)
          if (*captured.graph->placeholders()[k]->meta.desc == in)
            tracer.set_value(inputs[k].to_tensor(), values[i].to_tensor());
      } else {
        outputs.push_back(values[i]);
      }
    }
    return std::make_pair(outputs, *captured.call_out_spec);
  };
  return s;
}

}  // namespace aotgrad::exporting::detail
