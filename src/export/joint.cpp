// aot_export_joint_with_descriptors: Note [One engine, two dispatchers].
//
// The forward runs on proxy tensors under the tracer, with the module's parameters
// and buffers swapped for placeholder proxies (a functional call). Then the ordinary
// eager engine runs autograd::grad on those proxies: every op its derivative
// formulas call is dispatched to the tracer too, so the backward lands in the same
// graph in the engine's order (highest seq_nr first), exactly as eager runs it.
#include <functional>

#include "aotgrad/annotate.h"
#include "aotgrad/autograd.h"
#include "aotgrad/export.h"
#include "export/forward_source.h"
#include "hop/register.h"
#include "ops/dispatch.h"
#include "ops/registry.h"
#include "support/error.h"
#include "trace/tracer.h"

namespace aotgrad::exporting {

namespace {
using graph::Arg;
using graph::Node;

std::string primal_name(size_t i) {
  return "primals_" + std::to_string(i + 1);
}
}  // namespace

JointWithDescriptors export_joint(const detail::ForwardSource& source, const nn::Args& args, const nn::Kwargs& kwargs,
                                  const ExportOptions& options) {
  hop::register_higher_order_ops();  // the verifier resolves the higher-order nodes a trace records
  try {
    JointWithDescriptors joint;
    auto gm = std::make_shared<graph::GraphModule>();
    gm->arg_names = {"primals", "tangents"};
    trace::Tracer tracer(*gm, {options.decompositions, options.record_stack_traces});

    // Primals: parameters, buffers, then the flattened (args, kwargs).
    std::vector<Tensor> primals;
    std::vector<Descriptor> primal_descs;
    std::vector<const Storage*> primal_storage;  // to find inputs that alias each other
    auto add_primal = [&](const Tensor& like, bool requires_grad, Descriptor desc) {
      Tensor p = tracer.placeholder(primal_name(primals.size()), like, requires_grad);
      gm->graph->placeholders().back()->meta.desc = desc;
      primals.push_back(p);
      primal_descs.push_back(std::move(desc));
      primal_storage.push_back(like.is_meta() ? nullptr : like.impl()->storage.get());
      return p;
    };
    TensorList param_proxies, buffer_proxies;
    for (const auto& p : source.params) {
      joint.params_spec.push_back(p.fqn);
      param_proxies.push_back(add_primal(p.example, p.requires_grad, Descriptor::param(p.fqn)));
    }
    for (const auto& b : source.buffers) {
      joint.buffers_spec.push_back(b.fqn);
      buffer_proxies.push_back(add_primal(b.example, false, Descriptor::buffer(b.fqn)));
    }
    for (int64_t i = 0; i < static_cast<int64_t>(primals.size()); ++i) joint.static_input_indices.push_back(i);

    pytree::Value call = pytree::Value::tuple({pytree::Value::tuple(args), pytree::Value::dict(kwargs)});
    auto [in_leaves, in_spec] = pytree::flatten(call);
    joint.in_spec = in_spec;
    std::vector<IValue> proxy_leaves;
    for (size_t i = 0; i < in_leaves.size(); ++i) {
      AG_CHECK(in_leaves[i].is_tensor() && in_leaves[i].to_tensor().defined(),
               "export: user input {} (flattened, kwargs after args) is {}, but only tensors can be "
               "graph inputs",
               i, in_leaves[i].type_name());
      const Tensor& t = in_leaves[i].to_tensor();
      proxy_leaves.emplace_back(add_primal(t, t.requires_grad(), Descriptor::plain_input(int64_t(i))));
    }
    pytree::Value proxy_call = pytree::unflatten(proxy_leaves, in_spec);

    // The forward.
    std::vector<IValue> out_leaves;
    {
      ops::ModeGuard mode(&tracer);
      autograd::EnableGradGuard grad_on;
      auto result = source.run(param_proxies, buffer_proxies, proxy_call, tracer);
      out_leaves = std::move(result.first);
      joint.out_spec = result.second;
    }
    TensorList outputs;
    for (size_t i = 0; i < out_leaves.size(); ++i) {
      AG_CHECK(out_leaves[i].is_tensor() && out_leaves[i].to_tensor().defined(),
               "export: output {} of the module is {}, but every output leaf must be a tensor", i,
               out_leaves[i].type_name());
      outputs.push_back(out_leaves[i].to_tensor());
    }

    // Forward outputs: new values of mutated inputs, then the user outputs.
    std::vector<Tensor> fw_values;
    std::vector<Descriptor> fw_descs;
    ForwardMetadata& meta = joint.metadata;
    for (size_t i = 0; i < primals.size(); ++i) {
      if (!tracer.was_mutated(primals[i]) || primal_storage[i] == nullptr) continue;
      // A write into an input that shares storage with another input would silently
      // miss the other one in a functional graph.
      for (size_t j = 0; j < primals.size(); ++j)
        AG_CHECK(j == i || primal_storage[j] != primal_storage[i],
                 "export: {} is written in place, but it shares storage with {}; a mutation of "
                 "aliased inputs cannot be made functional (pass a clone of one of them)",
                 primal_descs[i].str(), primal_descs[j].str());
    }
    std::vector<size_t> kept_mutations;  // written back in the graph (keep_input_mutations)
    for (size_t i = 0; i < primals.size(); ++i) {
      const bool mutated = tracer.was_mutated(primals[i]);
      meta.input_mutated.push_back(mutated);
      if (!mutated) continue;
      if (options.keep_input_mutations) {
        kept_mutations.push_back(i);
        continue;
      }
      fw_values.push_back(primals[i]);
      fw_descs.push_back(Descriptor::input_mutation(primal_descs[i]));
      ++meta.num_mutated_inputs;
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      fw_values.push_back(outputs[i]);
      fw_descs.push_back(Descriptor::plain_output(int64_t(i)));
      meta.output_requires_grad.push_back(outputs[i].requires_grad());
    }
    meta.num_forward_outputs = static_cast<int64_t>(fw_values.size());
    meta.num_primals = static_cast<int64_t>(primals.size());

    // One tangent per forward output that requires grad.
    TensorList diff_outputs, tangents;
    for (size_t i = 0; i < fw_values.size(); ++i) {
      if (!fw_values[i].requires_grad() || !fw_values[i].is_floating_point()) continue;
      Tensor tangent = tracer.placeholder("tangents_" + std::to_string(tangents.size() + 1), fw_values[i], false);
      gm->graph->placeholders().back()->meta.desc = Descriptor::tangent(fw_descs[i]);
      diff_outputs.push_back(fw_values[i]);
      tangents.push_back(tangent);
    }
    meta.num_tangents = static_cast<int64_t>(tangents.size());

    // The backward: the eager engine on proxies.
    TensorList wrt;
    std::vector<size_t> wrt_index;
    for (size_t i = 0; i < primals.size(); ++i) {
      if (!primals[i].requires_grad()) continue;
      wrt.push_back(primals[i]);
      wrt_index.push_back(i);
    }
    TensorList grads(primals.size());
    if (!wrt.empty() && !diff_outputs.empty()) {
      ops::ModeGuard mode(&tracer);
      TensorList g = autograd::grad(diff_outputs, wrt, tangents, /*allow_unused=*/true);
      for (size_t k = 0; k < g.size(); ++k) grads[wrt_index[k]] = g[k];
    }

    if (!kept_mutations.empty()) {
      AG_CHECK(tangents.empty(),
               "export: keep_input_mutations is for inference graphs, but {} output(s) "
               "require grad",
               tangents.size());
      graph::Graph& g = *gm->graph;
      for (size_t i : kept_mutations) {
        Node* ph = g.placeholders()[i];
        Node* write = g.call_function(ops::op_info(ops::OpId::copy_), {Arg(ph), Arg(tracer.node_of(primals[i]))});
        write->meta.val = ph->meta.val;
      }
    }
    Arg::List values;
    std::vector<std::optional<Descriptor>> out_descs;
    for (size_t i = 0; i < fw_values.size(); ++i) {
      values.emplace_back(tracer.node_of(fw_values[i]));
      out_descs.emplace_back(fw_descs[i]);
    }
    for (size_t i = 0; i < primals.size(); ++i) {
      if (grads[i].defined()) {
        values.emplace_back(tracer.node_of(grads[i]));
        out_descs.emplace_back(Descriptor::grad(primal_descs[i]));
      } else {
        values.emplace_back();
        out_descs.emplace_back(std::nullopt);
      }
    }
    Node* out = gm->graph->output(std::move(values));
    out->meta.out_descs = std::move(out_descs);

    // The graph's own calling convention: ([primals…], [tangents…]) in, a flat list out.
    pytree::TreeSpec leaf;
    auto list_of = [&](size_t n) {
      pytree::TreeSpec s;
      s.kind = pytree::Value::Kind::List;
      s.children.assign(n, leaf);
      return s;
    };
    pytree::TreeSpec graph_in;
    graph_in.kind = pytree::Value::Kind::List;
    graph_in.children = {list_of(primals.size()), list_of(tangents.size())};
    gm->in_spec = graph_in;
    gm->out_spec = list_of(out->args()[0].list().size());
    tracer.finish();
    graph::verify(*gm);
    joint.graph_module = std::move(gm);
    return joint;
  } catch (Error& e) {
    e.add_context("while exporting " + source.name);
    throw;
  }
}

}  // namespace aotgrad::exporting

namespace aotgrad::exporting {

JointWithDescriptors aot_export_joint_with_descriptors(nn::Module& module, const nn::Args& args,
                                                       const nn::Kwargs& kwargs, const ExportOptions& options) {
  return export_joint(detail::module_source(module), args, kwargs, options);
}

JointWithDescriptors aot_export_joint_with_descriptors(const graph::GraphModule& captured, const nn::Args& args,
                                                       const nn::Kwargs& kwargs, const ExportOptions& options) {
  return export_joint(detail::captured_source(captured), args, kwargs, options);
}

std::shared_ptr<graph::GraphModule> capture_forward(nn::Module& module, const nn::Args& args, const nn::Kwargs& kwargs,
                                                    const ExportOptions& options) {
  try {
    auto gm = std::make_shared<graph::GraphModule>();
    gm->name = module.type_name();
    trace::Tracer tracer(*gm, {options.decompositions, options.record_stack_traces});
    std::vector<Tensor> inputs;
    std::vector<Descriptor> descs;
    nn::SlotSwap swapped;
    auto lift = [&](const std::string& name, const Tensor& like, Descriptor d) {
      Tensor p = tracer.placeholder(name, like, false);
      gm->graph->placeholders().back()->meta.desc = d;
      inputs.push_back(p);
      descs.push_back(d);
      return p;
    };
    // Placeholders named after the FQNs ("linear.weight" -> linear_weight).
    for (auto& [name, slot] : module.parameter_slots()) swapped.swap(slot, lift(name, *slot, Descriptor::param(name)));
    for (auto& [name, slot] : module.buffer_slots()) swapped.swap(slot, lift(name, *slot, Descriptor::buffer(name)));
    pytree::Value call = pytree::Value::tuple({pytree::Value::tuple(args), pytree::Value::dict(kwargs)});
    auto [leaves, in_spec] = pytree::flatten(call);
    std::vector<IValue> proxies;
    for (size_t i = 0; i < leaves.size(); ++i) {
      AG_CHECK(leaves[i].is_tensor(), "capture: user input {} is {}, but only tensors can be graph inputs", i,
               leaves[i].type_name());
      proxies.emplace_back(lift("arg" + std::to_string(i), leaves[i].to_tensor(), Descriptor::plain_input(int64_t(i))));
    }
    pytree::Value proxy_call = pytree::unflatten(proxies, in_spec);
    std::vector<IValue> out;
    pytree::TreeSpec out_spec;
    {
      ops::ModeGuard mode(&tracer);
      autograd::NoGradGuard no_grad;  // the forward alone
      auto flat = pytree::flatten(module(proxy_call[0].items(), proxy_call[1].entries()));
      out = std::move(flat.first);
      out_spec = flat.second;
    }
    Arg::List values;
    std::vector<std::optional<Descriptor>> out_descs;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!tracer.was_mutated(inputs[i])) continue;
      values.emplace_back(tracer.node_of(inputs[i]));
      out_descs.emplace_back(Descriptor::input_mutation(descs[i]));
    }
    for (size_t i = 0; i < out.size(); ++i) {
      AG_CHECK(out[i].is_tensor(), "capture: output {} is {}, but every output leaf must be a tensor", i,
               out[i].type_name());
      values.emplace_back(tracer.node_of(out[i].to_tensor()));
      out_descs.emplace_back(Descriptor::plain_output(int64_t(i)));
    }
    gm->graph->output(std::move(values))->meta.out_descs = std::move(out_descs);
    gm->call_in_spec = in_spec;
    gm->call_out_spec = out_spec;
    tracer.finish();
    graph::verify(*gm);
    return gm;
  } catch (Error& e) {
    e.add_context("while capturing module '" + module.type_name() + "'");
    throw;
  }
}

}  // namespace aotgrad::exporting
