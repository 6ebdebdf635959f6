// The autograd handler: what the dispatcher calls when an op sees a tensor that
// requires grad. It runs the op below autograd and records an OpNode.
#include "aotgrad/autograd.h"
#include "aotgrad/ops.h"
#include "autograd/node.h"
#include "ops/dispatch.h"
#include "support/error.h"

namespace aotgrad::autograd {

namespace {

// A value a node keeps for its backward: no history and no link to a view base, since
// the base's grad_fn may be a node that holds this one (a reference cycle).
Tensor saved_value(const Tensor& t) {
  if (!t.defined()) return t;
  Tensor s = t.detach();
  s.impl()->view_base = nullptr;
  return s;
}

// Note [Saved results]
// A derivative that reads its op's result (exp, tanh, relu, softmax, ...; declared
// with reads_result) reads it through two detaches of it, recorded right after the
// op, as in PyTorch: saving an output that has history stores a history-free alias
// of it (SavedVariable's tensor_data), which under a trace is aten.detach, taken
// once per tensor layer (functional, then fake). Traced, the two show as detach and
// detach_1 (prims view_of, view_of_1 when decomposed), and the backward reads
// detach_1. Results without history (batch norm's saved statistics, max_pool's
// indices) are saved as they are. Eagerly (no dispatch mode) the result is saved
// directly: the aliases would only cost dispatches.
Tensor saved_result(const Tensor& result) {
  Tensor once = detach(result);
  return detach(once);
}

// The outputs that carry gradients: floating ones, within the op's limit.
bool output_differentiable(const ops::OpInfo& op, size_t i, const Tensor& t) {
  if (!t.defined() || !is_floating(t.dtype())) return false;
  return op.differentiable_outputs < 0 || static_cast<int>(i) < op.differentiable_outputs;
}

// What the node keeps of the op's outputs (Note [Saved results]).
TensorList saved_outputs(const ops::OpInfo& op, const TensorList& outputs) {
  TensorList saved;
  for (const Tensor& t : outputs) saved.push_back(saved_value(t));
  // Only a dispatch mode (a trace) sees the detaches; eagerly they would be work for nothing.
  if (op.derivative_reads_result && output_differentiable(op, 0, outputs[0]) && ops::current_mode() != nullptr)
    saved[0] = saved_value(saved_result(outputs[0]));
  return saved;
}

std::string first_grad_arg(const ops::OpInfo& op, const Args& args) {
  for (size_t i = 0; i < args.size() && i < op.schema.args.size(); ++i) {
    if (args[i].is_tensor() && args[i].to_tensor().requires_grad()) return op.schema.args[i].name;
    if (args[i].is_tensor_list())
      for (const Tensor& t : args[i].to_tensor_list())
        if (t.defined() && t.requires_grad()) return op.schema.args[i].name;
  }
  return "?";
}

// Note [In-place writes into views]
// `base[idx] = x` writes through a view: afterwards the *base* depends on x. As in
// PyTorch, the base's history moves onto a CopySlices node that wraps the in-place
// op's node (taking over its seq_nr), and the view's history becomes "as_strided of
// the new base", so later uses of either see the write.
void rebase_view_history(const std::shared_ptr<OpNode>& fn, const Tensor& view) {
  Tensor base(view.impl()->view_base);
  AG_CHECK(base.is_contiguous(),
           "{}: in-place writes into a view are supported for contiguous bases only, got base {} "
           "with strides {}",
           fn->op().qualified_name(), base.describe(), shape_str(base.strides()));
  // The in-place op's `self` edge is the base's old history (it only needs to be
  // valid so the op computes the gradient for the overwritten region).
  fn->next_edges()[0] = gradient_edge(base);
  const int64_t offset = view.storage_offset() - base.storage_offset();
  auto copy_slices = std::make_shared<CopySlices>(fn, meta_of(base), view.sizes(), view.strides(), offset);
  copy_slices->creation_context = fn->creation_context;
  copy_slices->next_edges() = fn->next_edges();
  TensorImpl* b = base.impl();
  b->requires_grad = true;
  b->grad_fn = copy_slices;
  b->output_nr = 0;

  const ops::OpInfo& as_strided_op = ops::op_info(ops::OpId::as_strided);
  Args view_args{saved_value(base), view.sizes(), view.strides(), view.storage_offset()};
  auto regen =
      std::make_shared<OpNode>(next_sequence_nr(), as_strided_op, std::move(view_args), TensorList{saved_value(view)});
  regen->creation_context = fn->creation_context;
  regen->next_edges().push_back({copy_slices, 0});
  regen->edge_metas().push_back(meta_of(base));
  regen->input_metas().push_back(meta_of(view));
  TensorImpl* v = view.impl();
  v->requires_grad = true;
  v->grad_fn = regen;
  v->output_nr = 0;
}

Outputs record(const ops::OpInfo& op, const Args& args) {
  if (op.derivative == nullptr) {
    AG_CHECK(op.not_differentiable,
             "{}: no derivative is registered for this op, but argument '{}' requires grad "
             "(wrap the call in autograd::NoGradGuard or detach the input)",
             op.qualified_name(), first_grad_arg(op, args));
    NoGradGuard no_grad;
    return ops::call_below_autograd(op, args);
  }
  TensorList slots = ops::tensor_slots(op, args);
  const bool inplace = op.kind == ops::OpKind::InPlace;
  if (inplace) {
    const Tensor& self = args[0].to_tensor();
    const std::string label = self.impl()->extension ? self.impl()->extension->label() : "";
    AG_CHECK(!(self.is_leaf() && self.requires_grad()),
             "{}: a leaf tensor that requires grad ({}{}) is being used in an in-place operation", op.qualified_name(),
             self.describe(), label.empty() ? "" : ", " + label);
    const auto& base = self.impl()->view_base;
    AG_CHECK(!(base && base->requires_grad && !base->grad_fn),
             "{}: a view of a leaf tensor that requires grad ({}) is being used in an in-place "
             "operation",
             op.qualified_name(), Tensor(base).describe());
  }
  // Edges first: an in-place op is about to replace self's history.
  std::vector<Edge> edges;
  std::vector<TensorMeta> edge_metas;
  for (const Tensor& t : slots) {
    edges.push_back(gradient_edge(t));
    edge_metas.push_back(meta_of(t));
  }
  Args saved = args;
  // Of the in-place derivatives only mul_'s reads self as it was before the write;
  // the others would save (and a traced graph would show) a dead clone.
  // Either way self is saved detached: self's grad_fn becomes this node, and a node
  // holding its own output's impl would be a reference cycle (a leak).
  if (op.id == ops::OpId::mul__Tensor)
    saved[0] = clone(args[0].to_tensor()).detach();
  else if (inplace)
    saved[0] = saved_value(args[0].to_tensor());
  Outputs outs;
  {
    NoGradGuard no_grad;
    outs = ops::call_below_autograd(op, args);
  }
  TensorList flat = ops::flatten_outputs(outs);
  bool any = false;
  for (size_t i = 0; i < flat.size(); ++i) any = any || output_differentiable(op, i, flat[i]);
  if (!any) return outs;

  auto node = std::make_shared<OpNode>(next_sequence_nr(), op, std::move(saved), saved_outputs(op, flat));
  node->creation_context = capture_creation_context();
  node->next_edges() = std::move(edges);
  node->edge_metas() = std::move(edge_metas);
  if (inplace && args[0].to_tensor().impl()->view_base) {
    rebase_view_history(node, args[0].to_tensor());
    return outs;
  }
  for (size_t i = 0; i < flat.size(); ++i) {
    // A non-differentiable output never gets a gradient, so none is zero-filled for it
    // (PyTorch passes undefined; a traced backward must not grow a dead `full`).
    const bool differentiable = output_differentiable(op, i, flat[i]);
    node->input_metas().push_back(differentiable ? meta_of(flat[i]) : TensorMeta{});
    if (!differentiable) continue;
    TensorImpl* impl = flat[i].impl();
    impl->requires_grad = true;
    impl->grad_fn = node;
    impl->output_nr = static_cast<uint32_t>(i);
  }
  return outs;
}

struct Installer {
  Installer() { ops::set_autograd_handler(record); }
};
}  // namespace

// Referenced from engine.cpp so that linking the engine links the handler too.
void install_autograd_handler() {
  static Installer installer;
}

}  // namespace aotgrad::autograd
