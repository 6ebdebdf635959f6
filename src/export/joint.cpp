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
#include "export/graph_boundary.h"
#include "export/sharded_params.h"
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

// One trace of a joint graph, phase by phase: primals, forward, forward outputs and
// tangents, backward, outputs.
class JointTrace {
 public:
  JointTrace(const detail::ForwardSource& source, const ExportOptions& options)
      : source_(source),
        options_(options),
        gm_(std::make_shared<graph::GraphModule>()),
        tracer_(*gm_, {options.decompositions, options.record_stack_traces, trace::StackFrames::AllUserFrames}),
        primals_(*gm_, tracer_),
        outputs_(tracer_) {
    if (!options.dynamic.empty()) {
      shape_env_ = std::make_unique<ops::ShapeEnv>();
      tracer_.set_shape_env(shape_env_.get());
    }
  }

  JointWithDescriptors run(const nn::Args& args, const nn::Kwargs& kwargs) {
    AG_CHECK(!options_.data_parallel || !options_.fully_sharded,
             "export: choose data-parallel or fully-sharded, not both");
    gm_->arg_names = {"primals", "tangents"};
    add_primals(args, kwargs);
    forward();
    collect_forward_outputs();
    add_tangents();
    backward();
    write_back_kept_mutations();
    add_outputs();
    tracer_.finish();
    if (shape_env_) {
      detail::check_nothing_specialized(*shape_env_, *gm_);
      tracer_.finish_symbolic();
    }
    graph::eliminate_dead_code(*gm_);
    if (options_.data_parallel) schedule_gradient_buckets(*gm_->graph);
    if (options_.fully_sharded) schedule_fully_sharded(*gm_->graph, *options_.fully_sharded);
    graph::verify(*gm_);
    joint_.graph_module = std::move(gm_);
    return std::move(joint_);
  }

 private:
  const detail::ForwardSource& source_;
  const ExportOptions& options_;
  std::shared_ptr<graph::GraphModule> gm_;
  std::unique_ptr<ops::ShapeEnv> shape_env_;  // a symbolic trace's (ExportOptions::dynamic)
  trace::Tracer tracer_;
  detail::GraphInputs primals_;
  detail::GraphOutputs outputs_;
  JointWithDescriptors joint_;
  TensorList param_proxies_, buffer_proxies_;
  TensorList gathered_;  // under FSDP: each parameter gathered whole, as the forward reads it
  pytree::Value proxy_call_;
  TensorList user_outputs_;
  std::vector<Tensor> fw_values_;  // new values of mutated inputs, then the user outputs
  std::vector<Descriptor> fw_descs_;
  std::vector<size_t> kept_mutations_;  // written back in the graph (keep_input_mutations)
  TensorList diff_outputs_, tangents_;
  TensorList grads_;  // per primal; undefined where it gets none

  // Parameters, buffers, then the flattened (args, kwargs).
  void add_primals(const nn::Args& args, const nn::Kwargs& kwargs) {
    auto next_name = [this] { return primal_name(primals_.size()); };
    const auto& fsdp = options_.fully_sharded;
    for (const auto& p : source_.params) {
      joint_.params_spec.push_back(p.fqn);
      // Under FSDP the primal is this rank's shard; the forward reads the gathered whole.
      const Tensor like = fsdp ? shard_of(p.example, 0, fsdp->world_size) : p.example;
      param_proxies_.push_back(primals_.add(next_name(), like, p.requires_grad && !fsdp, Descriptor::param(p.fqn)));
    }
    for (const auto& b : source_.buffers) {
      joint_.buffers_spec.push_back(b.fqn);
      buffer_proxies_.push_back(primals_.add(next_name(), b.example, false, Descriptor::buffer(b.fqn)));
    }
    for (int64_t i = 0; i < static_cast<int64_t>(primals_.size()); ++i) joint_.static_input_indices.push_back(i);
    const size_t first_user = primals_.size();
    proxy_call_ = primals_.add_call(
        args, kwargs, [first_user](size_t i) { return primal_name(first_user + i); }, true, "export", joint_.in_spec,
        options_.dynamic);
  }

  void forward() {
    ops::ModeGuard mode(&tracer_);
    autograd::EnableGradGuard grad_on;
    TensorList params = param_proxies_;
    if (const auto& fsdp = options_.fully_sharded) {
      params = detail::gather_sharded(param_proxies_, source_.params, *fsdp);
      gathered_ = params;
    }
    auto [leaves, spec] = source_.run(params, buffer_proxies_, proxy_call_, tracer_);
    joint_.out_spec = spec;
    for (size_t i = 0; i < leaves.size(); ++i) {
      AG_CHECK(leaves[i].is_tensor() && leaves[i].to_tensor().defined(),
               "export: output {} of the module is {}, but every output leaf must be a tensor", i,
               leaves[i].type_name());
      user_outputs_.push_back(leaves[i].to_tensor());
    }
  }

  // Forward outputs: new values of mutated inputs, then the user outputs.
  void collect_forward_outputs() {
    ForwardMetadata& meta = joint_.metadata;
    const std::vector<size_t> written = primals_.mutated();
    primals_.check_written_inputs_do_not_alias(written);
    meta.input_mutated.assign(primals_.size(), false);
    for (size_t i : written) {
      meta.input_mutated[i] = true;
      if (options_.keep_input_mutations) {
        kept_mutations_.push_back(i);
        continue;
      }
      fw_values_.push_back(primals_.proxy(i));
      fw_descs_.push_back(Descriptor::input_mutation(primals_.desc(i)));
      ++meta.num_mutated_inputs;
    }
    for (size_t i = 0; i < user_outputs_.size(); ++i) {
      fw_values_.push_back(user_outputs_[i]);
      fw_descs_.push_back(Descriptor::plain_output(static_cast<int64_t>(i)));
      meta.output_requires_grad.push_back(user_outputs_[i].requires_grad());
    }
    meta.num_forward_outputs = static_cast<int64_t>(fw_values_.size());
    meta.num_primals = static_cast<int64_t>(primals_.size());
  }

  // One tangent per forward output that requires grad.
  void add_tangents() {
    for (size_t i = 0; i < fw_values_.size(); ++i) {
      if (!fw_values_[i].requires_grad() || !fw_values_[i].is_floating_point()) continue;
      Tensor tangent = tracer_.placeholder("tangents_" + std::to_string(tangents_.size() + 1), fw_values_[i], false);
      gm_->graph->placeholders().back()->meta.desc = Descriptor::tangent(fw_descs_[i]);
      diff_outputs_.push_back(fw_values_[i]);
      tangents_.push_back(tangent);
    }
    joint_.metadata.num_tangents = static_cast<int64_t>(tangents_.size());
  }

  // The eager engine on proxies.
  void backward() {
    TensorList wrt;
    std::vector<size_t> wrt_index;
    for (size_t i = 0; i < primals_.size(); ++i) {
      // Under FSDP a parameter's gradient is taken at its gathered whole.
      const Tensor& x = i < gathered_.size() ? gathered_[i] : primals_.proxy(i);
      if (!x.requires_grad()) continue;
      wrt.push_back(x);
      wrt_index.push_back(i);
    }
    grads_.assign(primals_.size(), Tensor());
    if (wrt.empty() || diff_outputs_.empty()) return;
    ops::ModeGuard mode(&tracer_);
    TensorList g = autograd::grad(diff_outputs_, wrt, tangents_, /*allow_unused=*/true);
    for (size_t k = 0; k < g.size(); ++k) grads_[wrt_index[k]] = g[k];
    if (options_.data_parallel) average_param_grads(*options_.data_parallel);
    if (options_.fully_sharded) {
      TensorList param_grads(grads_.begin(), grads_.begin() + static_cast<std::ptrdiff_t>(gathered_.size()));
      param_grads = detail::reduce_scatter_sharded(param_grads, source_.params, *options_.fully_sharded);
      std::copy(param_grads.begin(), param_grads.end(), grads_.begin());
    }
  }

  // DDP: the parameters' gradients averaged across the ranks (plain inputs' are not).
  void average_param_grads(const DataParallelOptions& options) {
    autograd::NoGradGuard no_grad;
    TensorList params;
    std::vector<size_t> index;
    for (size_t i = 0; i < primals_.size(); ++i)
      if (grads_[i].defined() && primals_.desc(i).kind() == Descriptor::Kind::ParamInput) {
        params.push_back(grads_[i]);
        index.push_back(i);
      }
    if (params.empty()) return;
    TensorList averaged = all_reduce_gradients(params, options);
    for (size_t k = 0; k < index.size(); ++k) grads_[index[k]] = averaged[k];
  }

  void write_back_kept_mutations() {
    if (kept_mutations_.empty()) return;
    AG_CHECK(tangents_.empty(), "export: keep_input_mutations is for inference graphs, but {} output(s) require grad",
             tangents_.size());
    graph::Graph& g = *gm_->graph;
    for (size_t i : kept_mutations_) {
      Node* ph = g.placeholders()[i];
      Node* write = g.call_function(ops::op_info(ops::OpId::copy_), {Arg(ph), Arg(tracer_.node_of(primals_.proxy(i)))});
      write->meta.val = ph->meta.val;
    }
  }

  // The forward outputs, then one gradient (or None) per primal. The graph's own
  // calling convention: ([primals…], [tangents…]) in, a flat list out.
  void add_outputs() {
    for (size_t i = 0; i < fw_values_.size(); ++i) outputs_.add(fw_values_[i], fw_descs_[i]);
    for (size_t i = 0; i < primals_.size(); ++i) {
      if (grads_[i].defined())
        outputs_.add(grads_[i], Descriptor::grad(primals_.desc(i)));
      else
        outputs_.add_none();
    }
    pytree::TreeSpec graph_in;
    graph_in.kind = pytree::Value::Kind::List;
    graph_in.children = {detail::flat_list_spec(primals_.size()), detail::flat_list_spec(tangents_.size())};
    gm_->in_spec = graph_in;
    gm_->out_spec = detail::flat_list_spec(outputs_.size());
    outputs_.finish(*gm_);
  }
};
}  // namespace

JointWithDescriptors export_joint(const detail::ForwardSource& source, const nn::Args& args, const nn::Kwargs& kwargs,
                                  const ExportOptions& options) {
  hop::register_higher_order_ops();  // the verifier resolves the higher-order nodes a trace records
  try {
    JointTrace trace(source, options);
    return trace.run(args, kwargs);
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
    trace::Tracer tracer(*gm, {options.decompositions, options.record_stack_traces, trace::StackFrames::AllUserFrames});
    detail::GraphInputs inputs(*gm, tracer);
    nn::SlotSwap swapped;
    // Placeholders named after the FQNs ("linear.weight" -> linear_weight).
    for (auto& [name, slot] : module.parameter_slots())
      swapped.swap(slot, inputs.add(name, *slot, false, Descriptor::param(name)));
    for (auto& [name, slot] : module.buffer_slots())
      swapped.swap(slot, inputs.add(name, *slot, false, Descriptor::buffer(name)));
    pytree::Value proxy_call = inputs.add_call(
        args, kwargs, [](size_t i) { return "arg" + std::to_string(i); }, false, "capture", gm->call_in_spec.emplace());
    std::vector<IValue> out;
    {
      ops::ModeGuard mode(&tracer);
      autograd::NoGradGuard no_grad;  // the forward alone
      auto flat = pytree::flatten(module(proxy_call[0].items(), proxy_call[1].entries()));
      out = std::move(flat.first);
      gm->call_out_spec = flat.second;
    }
    detail::GraphOutputs outputs(tracer);
    outputs.add_mutations(inputs, inputs.mutated());
    for (size_t i = 0; i < out.size(); ++i) {
      AG_CHECK(out[i].is_tensor(), "capture: output {} is {}, but every output leaf must be a tensor", i,
               out[i].type_name());
      outputs.add(out[i].to_tensor(), Descriptor::plain_output(static_cast<int64_t>(i)));
    }
    outputs.finish(*gm);
    tracer.finish();
    graph::eliminate_dead_code(*gm);
    graph::verify(*gm);
    return gm;
  } catch (Error& e) {
    e.add_context("while capturing module '" + module.type_name() + "'");
    throw;
  }
}

}  // namespace aotgrad::exporting
