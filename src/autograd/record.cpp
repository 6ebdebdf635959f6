// The autograd handler: what the dispatcher calls when an op sees a tensor that
// requires grad. It runs the op below autograd and records an OpNode.
#include "aotgrad/autograd.h"
#include "aotgrad/ops.h"
#include "autograd/node.h"
#include "support/error.h"

namespace aotgrad::autograd {

namespace {

// The outputs that carry gradients: floating ones, within the op's limit.
bool output_differentiable(const ops::OpInfo& op, size_t i, const Tensor& t) {
  if (!t.defined() || !is_floating(t.dtype())) return false;
  return op.differentiable_outputs < 0 || static_cast<int>(i) < op.differentiable_outputs;
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
    AG_CHECK(!(self.is_leaf() && self.requires_grad()),
             "{}: a leaf tensor that requires grad ({}) is being used in an in-place operation",
             op.qualified_name(), self.describe());
    AG_CHECK(!(self.impl()->view_base && self.requires_grad()),
             "{}: in-place writes into a view of a tensor that requires grad are not supported",
             op.qualified_name());
  }
  // Edges first: an in-place op is about to replace self's history.
  std::vector<Edge> edges;
  std::vector<TensorMeta> edge_metas;
  for (const Tensor& t : slots) {
    edges.push_back(gradient_edge(t));
    edge_metas.push_back(meta_of(t));
  }
  Args saved = args;
  if (inplace) saved[0] = clone(args[0].to_tensor()).detach();  // self as it was before the write
  Outputs outs;
  {
    NoGradGuard no_grad;
    outs = ops::call_below_autograd(op, args);
  }
  TensorList flat = ops::flatten_outputs(outs);
  bool any = false;
  for (size_t i = 0; i < flat.size(); ++i) any = any || output_differentiable(op, i, flat[i]);
  if (!any) return outs;

  TensorList saved_outs;
  for (const Tensor& t : flat) saved_outs.push_back(t.defined() ? t.detach() : t);
  auto node = std::make_shared<OpNode>(next_sequence_nr(), op, std::move(saved), std::move(saved_outs));
  node->next_edges() = std::move(edges);
  node->edge_metas() = std::move(edge_metas);
  for (size_t i = 0; i < flat.size(); ++i) {
    node->input_metas().push_back(meta_of(flat[i]));
    if (!output_differentiable(op, i, flat[i])) continue;
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
void install_autograd_handler() { static Installer installer; }

}  // namespace aotgrad::autograd
