// Nested compile regions: invoke_subgraph (see aotgrad/hop.h).
//
// Note [Tracing a region]
// Outside a trace a region simply runs. Under a trace, the first call of a region
// with given operand layouts traces it twice with tracers of its own: once as the
// forward subgraph, and once as a joint subgraph (the forward again, then the
// engine's backward on it, returning one gradient per operand). Both traces run
// with grad enabled, so their nodes get sequence numbers exactly as a top-level
// joint export gives them. The outer graph then gets one invoke_subgraph node in
// the forward, and, when the engine reaches the region's autograd node, a second
// one calling the joint subgraph with the saved operands and the tangents. Later
// calls with the same layouts reuse both subgraphs.
#include <memory>

#include "aotgrad/annotate.h"
#include "aotgrad/autograd.h"
#include "aotgrad/hop.h"
#include "aotgrad/ops.h"
#include "graph/higher_order.h"
#include "hop/hop_internal.h"
#include "hop/register.h"
#include "ops/dispatch.h"
#include "support/error.h"
#include "trace/tracer.h"

namespace aotgrad {

namespace {
using graph::Arg;

// The traced subgraphs of one region for one set of operand layouts.
struct RegionGraphs {
  int64_t index = 0;  // "fw_subgraph_<index>"
  std::shared_ptr<graph::GraphModule> forward, joint;
  TensorList output_metas;
  std::vector<bool> output_requires_grad;
  std::vector<bool> grad_defined;  // per operand: whether the joint returns a gradient
  int64_t calls = 0;               // calls recorded so far in this trace
};

std::string layout_key(const TensorList& operands) {
  std::string key;
  for (const Tensor& t : operands)
    key += graph::TensorVal::of(t).str() + shape_str(t.strides()) + (t.requires_grad() ? "g" : "") + ";";
  return key;
}

std::string subgraph_arg_name(size_t i) {
  return "arg" + std::to_string(i) + "_1";
}

TensorList run_body(const std::string& region, const NestedCompileRegion::Fn& body, const TensorList& args) {
  TensorList outs = body(args);
  for (size_t i = 0; i < outs.size(); ++i)
    AG_CHECK(outs[i].defined(), "nested compile region '{}': output {} is an undefined tensor", region, i);
  return outs;
}

// The region's joint subgraph: (operands…, tangents…) in, (gradients…, outputs…) out.
template <typename TraceBody>
void trace_joint(RegionGraphs& graphs, const TraceBody& trace_body, const trace::TraceOptions& options) {
  RegionGraphs* r = &graphs;
  r->joint = std::make_shared<graph::GraphModule>();
  r->joint->name = "bw_subgraph";
  r->joint->output_is_tuple = true;
  trace::Tracer t(*r->joint, options);
  const auto [primals, outs] = trace_body(t);
  TensorList diff_outs, tangents, wrt;
  for (size_t i = 0; i < outs.size(); ++i) {
    if (!r->output_requires_grad[i]) continue;
    diff_outs.push_back(outs[i]);
    tangents.push_back(t.placeholder(subgraph_arg_name(primals.size() + tangents.size()), outs[i], false));
    t.node_of(tangents.back())->meta.custom = current_annotations();
  }
  for (const Tensor& p : primals)
    if (p.requires_grad()) wrt.push_back(p);
  TensorList grads;
  {
    ops::ModeGuard mode(&t);
    grads = autograd::grad(diff_outs, wrt, tangents, /*allow_unused=*/true);
  }
  Arg::List values;
  size_t k = 0;
  for (size_t i = 0; i < primals.size(); ++i) {
    const Tensor g = primals[i].requires_grad() ? grads[k++] : Tensor();
    r->grad_defined[i] = g.defined();
    values.push_back(g.defined() ? Arg(t.node_of(g)) : Arg());
  }
  // Then the forward outputs, as PyTorch's joint subgraph returns (grads…, outputs…).
  for (const Tensor& o : outs) values.emplace_back(t.node_of(o));
  r->joint->graph->output(std::move(values))->meta.custom = current_annotations();
  t.finish();
}

std::shared_ptr<RegionGraphs> trace_region(const std::string& region, const NestedCompileRegion::Fn& body,
                                           const TensorList& operands, const trace::TraceOptions& options,
                                           int64_t index) {
  auto r = std::make_shared<RegionGraphs>();
  r->index = index;
  autograd::EnableGradGuard grad_on;
  // Placeholders for the operands, then the body on them: (primals, outputs). The
  // placeholders are named as make_fx names a traced function's (arg0_1, arg1_1, ...).
  auto trace_body = [&](trace::Tracer& t) {
    TensorList primals;
    for (size_t i = 0; i < operands.size(); ++i) {
      primals.push_back(t.placeholder(subgraph_arg_name(i), operands[i], operands[i].requires_grad()));
      t.node_of(primals.back())->meta.custom = current_annotations();  // the call site's, as PyTorch's
    }
    ops::ModeGuard mode(&t);
    TensorList outs = run_body(region, body, primals);
    return std::make_pair(primals, outs);
  };
  {
    r->forward = std::make_shared<graph::GraphModule>();
    r->forward->name = "fw_subgraph";
    r->forward->output_is_tuple = true;
    trace::Tracer t(*r->forward, options);
    const auto [primals, outs] = trace_body(t);
    Arg::List values;
    for (const Tensor& o : outs) {
      values.emplace_back(t.node_of(o));
      r->output_metas.push_back(Tensor::meta(o.sizes(), o.dtype(), o.strides()));
      r->output_requires_grad.push_back(o.requires_grad() && o.is_floating_point());
    }
    r->forward->graph->output(std::move(values))->meta.custom = current_annotations();
    t.finish();
  }
  bool any_output_grad = false, any_operand_grad = false;
  for (bool g : r->output_requires_grad) any_output_grad = any_output_grad || g;
  for (const Tensor& o : operands) any_operand_grad = any_operand_grad || o.requires_grad();
  r->grad_defined.assign(operands.size(), false);
  if (!any_output_grad || !any_operand_grad) return r;

  trace_joint(*r, trace_body, options);
  return r;
}

// The region's call under a trace: Note [Tracing a region].
TensorList invoke_traced(trace::Tracer& outer, const std::string& region, const std::string& cache_key,
                         const NestedCompileRegion::Fn& body, const TensorList& operands) {
  std::shared_ptr<void>& slot = outer.hop_cache("invoke_subgraph:" + cache_key + ":" + layout_key(operands));
  if (!slot) {
    try {
      slot = trace_region(region, body, operands, outer.options(), outer.next_hop_index("invoke_subgraph"));
    } catch (Error& e) {
      e.add_context("while tracing nested compile region '" + region + "'");
      throw;
    }
  }
  auto graphs = std::static_pointer_cast<RegionGraphs>(slot);
  const std::string id = std::to_string(graphs->index);
  // Which call of this region this is in the trace (1, 2, ...): the forward call and
  // its backward carry it as `call_id` in their custom meta, as PyTorch's do.
  const int64_t call_id = ++graphs->calls;
  auto forward = [&outer, graphs, id, call_id](autograd::FunctionContext& ctx, const TensorList& in) {
    Arg::List args{Arg(outer.subgraph_attr("repeated_subgraph", graphs->forward)), Arg("fw_subgraph_" + id)};
    for (const Tensor& t : in) args.emplace_back(outer.node_of(t));
    ctx.save_for_backward(in);
    ctx.materialize_grads = false;
    return outer.record_higher_order(hop_detail::kInvokeSubgraph, std::move(args), graphs->output_metas,
                                     [call_id](graph::Node& n) { n.meta.custom.emplace_back("call_id", call_id); });
  };
  auto backward = [graphs, id, call_id, name = region](autograd::FunctionContext& ctx, const TensorList& grads) {
    trace::Tracer* tracer = trace::active_tracer();
    AG_CHECK(tracer != nullptr && graphs->joint != nullptr,
             "nested compile region '{}': its backward runs only inside the trace that recorded it", name);
    Arg::List args{Arg(tracer->subgraph_attr("repeated_subgraph", graphs->joint)), Arg("bw_subgraph_" + id + "_0")};
    for (const Tensor& t : ctx.saved) args.emplace_back(tracer->node_of(t));
    for (size_t i = 0; i < grads.size(); ++i) {
      if (!graphs->output_requires_grad[i]) continue;
      // An output whose gradient never arrived contributes zeros.
      const Tensor g = grads[i].defined() ? grads[i] : zeros_like(graphs->output_metas[i]);
      args.emplace_back(tracer->node_of(g));
    }
    TensorList metas;
    for (size_t i = 0; i < ctx.saved.size(); ++i) {
      const Tensor& p = ctx.saved[i];
      metas.push_back(graphs->grad_defined[i] ? Tensor::meta(p.sizes(), p.dtype(), p.strides()) : Tensor());
    }
    metas.insert(metas.end(), graphs->output_metas.begin(), graphs->output_metas.end());
    TensorList results =
        tracer->record_higher_order(hop_detail::kInvokeSubgraph, std::move(args), metas, [call_id](graph::Node& n) {
          n.meta.custom.insert(n.meta.custom.begin(), {"call_id", call_id});
        });
    results.resize(ctx.saved.size());  // the gradients; the recomputed outputs are not used here
    return results;
  };
  return autograd::apply_function("InvokeSubgraphAutogradOp", operands, forward, backward);
}
}  // namespace

namespace hop_detail {
TensorList invoke_region(const std::string& name, const std::string& cache_key, const NestedCompileRegion::Fn& body,
                         const TensorList& operands) {
  hop::register_higher_order_ops();
  trace::Tracer* tracer = trace::active_tracer();
  if (tracer == nullptr) return body(operands);
  return invoke_traced(*tracer, name, cache_key, body, operands);
}
}  // namespace hop_detail

NestedCompileRegion::NestedCompileRegion(std::string name, Fn fn) : name_(std::move(name)), fn_(std::move(fn)) {
  AG_CHECK(fn_ != nullptr, "nested compile region '{}': no function given", name_);
}

NestedCompileRegion::NestedCompileRegion(std::string name, nn::Module& module)
    : name_(std::move(name)), module_(&module) {}

TensorList NestedCompileRegion::operator()(const TensorList& inputs) const {
  for (size_t i = 0; i < inputs.size(); ++i)
    AG_CHECK(inputs[i].defined(), "nested compile region '{}': input {} is an undefined tensor", name_, i);
  if (module_ == nullptr)
    return hop_detail::invoke_region(name_, name_ + "@" + std::to_string(reinterpret_cast<uintptr_t>(this)), fn_,
                                     inputs);
  // A module region: (parameters…, buffers…, inputs…) are the operands.
  nn::Module& m = *module_;
  auto call_module = [&m](const TensorList& xs) {
    nn::Args args(xs.begin(), xs.end());
    auto [leaves, spec] = pytree::flatten(m(args));
    TensorList outs;
    for (const IValue& l : leaves) {
      AG_CHECK(l.is_tensor(), "nested compile region: module '{}' returned {}, but a region returns tensors",
               m.type_name(), l.type_name());
      outs.push_back(l.to_tensor());
    }
    return outs;
  };
  trace::Tracer* tracer = trace::active_tracer();
  if (tracer == nullptr) return call_module(inputs);
  TensorList operands;
  for (auto& [n, slot] : m.parameter_slots()) operands.push_back(*slot);
  for (auto& [n, slot] : m.buffer_slots()) operands.push_back(*slot);
  const size_t lifted = operands.size();
  operands.insert(operands.end(), inputs.begin(), inputs.end());
  auto body = [&m, lifted, call_module](const TensorList& all) {
    nn::SlotSwap swapped;
    size_t i = 0;
    for (auto& [name, slot] : m.parameter_slots()) swapped.swap(slot, all[i++]);
    for (auto& [name, slot] : m.buffer_slots()) swapped.swap(slot, all[i++]);
    return call_module(TensorList(all.begin() + static_cast<std::ptrdiff_t>(lifted), all.end()));
  };
  return hop_detail::invoke_region(name_, name_ + "@" + m.type_name(), body, operands);
}

}  // namespace aotgrad
