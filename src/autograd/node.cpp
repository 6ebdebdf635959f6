#include "autograd/node.h"

#include <execinfo.h>

#include "aotgrad/autograd.h"
#include "aotgrad/ops.h"
#include "ops/families.h"
#include "support/error.h"
#include "support/stack.h"

namespace aotgrad::autograd {

namespace {
thread_local uint64_t t_sequence_nr = 0;
thread_local bool t_capture_stacks = false;
}  // namespace

// Set by the engine (engine.cpp) while it runs a node.
thread_local const Node* t_current_backward_node = nullptr;
thread_local bool t_in_backward = false;

void set_capture_stacks(bool on) {
  t_capture_stacks = on;
}
bool capture_stacks() {
  return t_capture_stacks;
}
const Node* current_backward_node() {
  return t_current_backward_node;
}
bool in_backward() {
  return t_in_backward;
}

std::shared_ptr<const CreationContext> capture_creation_context() {
  const Annotations& custom = current_annotations();
  const StackTrace& trace = current_stack_trace_override();
  if (custom.empty() && trace.empty() && !t_capture_stacks) return nullptr;
  auto ctx = std::make_shared<CreationContext>();
  ctx->custom = custom;
  ctx->stack_trace = trace;
  if (t_capture_stacks && trace.empty()) {
    void* frames[40];  // deep enough to reach the caller of the op (see the tracer)
    const int n = capture_frames(frames, 40);
    ctx->frames.assign(frames, frames + n);
    ctx->frames_inside_anchor = frames_inside_anchor(stack_depth(), stack_anchor_depth());
  }
  return ctx;
}

uint64_t next_sequence_nr() {
  return t_sequence_nr++;
}
uint64_t peek_sequence_nr() {
  return t_sequence_nr;
}

TensorMeta meta_of(const Tensor& t) {
  if (!t.defined()) return {};
  return {t.sizes(), t.impl()->sym_sizes, t.dtype(), true};
}

std::string OpNode::name() const {
  return op_.qualified_name() + " backward";
}

TensorList OpNode::apply(TensorList&& grads) {
  std::vector<bool> needs;
  for (const Edge& e : next_edges()) needs.push_back(e.valid());
  ops::BackwardContext ctx{op_, args_, outs_, grads, needs};
  TensorList result;
  try {
    result = op_.derivative(ctx);
  } catch (Error& e) {
    e.add_context("while computing the derivative of " + op_.qualified_name());
    throw;
  }
  result.resize(next_edges().size());
  for (size_t i = 0; i < result.size(); ++i) {
    if (!next_edges()[i].valid()) {
      result[i] = Tensor();
      continue;
    }
    Tensor& g = result[i];
    const TensorMeta& m = edge_metas()[i];
    if (!g.defined() || !m.defined) continue;
    if (g.sizes() != m.sizes) g = ops::sum_to(g, m.sym_shape());
    if (g.dtype() != m.dtype) g = to(g, m.dtype);
    AG_INTERNAL_CHECK(g.sizes() == m.sizes, "{}: gradient {} for input {} does not match its shape {}", name(),
                      g.describe(), i, shape_str(m.sizes));
  }
  return result;
}

CopySlices::CopySlices(std::shared_ptr<OpNode> fn, TensorMeta base, Shape view_sizes, Shape view_strides,
                       int64_t view_offset)
    : Node(fn->seq_nr()),
      fn_(std::move(fn)),
      view_sizes_(std::move(view_sizes)),
      view_strides_(std::move(view_strides)),
      view_offset_(view_offset) {
  input_metas().push_back(base);
}

TensorList CopySlices::apply(TensorList&& grads) {
  // result: the base's gradient, with the view's region replaced by what the
  // in-place op passes back to its `self`.
  Tensor result = clone(grads[0]);
  Tensor region = as_strided(result, view_sizes_, view_strides_, view_offset_);
  TensorList fn_grads = fn_->apply({clone(region)});
  if (fn_grads[0].defined())
    copy_(region, fn_grads[0]);
  else
    zero_(region);
  fn_grads[0] = result;
  return fn_grads;
}

AccumulateGrad::AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : Node(UINT64_MAX), leaf_(std::move(leaf)) {
  input_metas().push_back(meta_of(Tensor(leaf_)));
}

TensorList AccumulateGrad::apply(TensorList&& grads) {
  Tensor g = grads[0];
  if (!g.defined()) return {};
  NoGradGuard no_grad;
  Tensor leaf(leaf_);
  if (g.sizes() != leaf.sizes()) g = ops::sum_to(g, leaf.sym_sizes());
  if (!leaf_->grad) {
    // The engine may hand the same tensor to several leaves: own a copy.
    leaf.set_grad(clone(g).detach());
  } else {
    add_(leaf.grad(), g);
  }
  return {};
}

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  TensorImpl* impl = t.impl();
  if (impl->grad_fn) return {impl->grad_fn, impl->output_nr};
  auto acc = impl->grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    impl->grad_accumulator = acc;
  }
  return {acc, 0};
}

}  // namespace aotgrad::autograd
