// Derivatives of copies, joins and in-place writers. See Note [Derivative order].
#include "aotgrad/ops.h"
#include "ops/dispatch.h"
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

namespace {
using G = std::vector<Tensor>;
}

void register_factory_derivatives(Registry& r) {
  r.derivative(OpId::clone, [](const BackwardContext& c) { return G{c.grad()}; });
  r.derivative(OpId::_to_copy, [](const BackwardContext& c) {
    return G{c.grad().dtype() == c.in(0).dtype() ? c.grad() : to(c.grad(), c.in(0).dtype())};
  });
  r.derivative(OpId::cat, [](const BackwardContext& c) {
    const TensorList& ts = c.args[0].to_tensor_list();
    int64_t d = normalize_dim(c.args[1].to_int(), c.grad().dim(), "cat");
    G grads;
    int64_t at = 0;
    for (size_t i = 0; i < ts.size(); ++i) {
      if (ts[i].dim() == 1 && ts[i].numel() == 0 && c.grad().dim() != 1) {
        grads.emplace_back();
        continue;
      }
      int64_t n = ts[i].sizes()[d];
      grads.push_back(c.need(i) ? slice(c.grad(), d, at, at + n) : Tensor());
      at += n;
    }
    return grads;
  });
  r.derivative(OpId::stack, [](const BackwardContext& c) {
    const TensorList& ts = c.args[0].to_tensor_list();
    int64_t d = normalize_insert_dim(c.args[1].to_int(), ts[0].dim(), "stack");
    G grads;
    for (size_t i = 0; i < ts.size(); ++i)
      grads.push_back(c.need(i) ? select(c.grad(), d, static_cast<int64_t>(i)) : Tensor());
    return grads;
  });
  r.derivative(OpId::slice_backward, [](const BackwardContext& c) {
    return G{slice(c.grad(), c.args[2].to_int(), c.args[3].to_int(), c.args[4].to_int(), c.args[5].to_int())};
  });
  r.derivative(OpId::select_backward,
               [](const BackwardContext& c) { return G{select(c.grad(), c.args[2].to_int(), c.args[3].to_int())}; });
  for (OpId id : {OpId::new_zeros, OpId::new_empty, OpId::zeros_like, OpId::ones_like, OpId::full, OpId::scalar_tensor})
    r.not_differentiable(id);
  r.derivative(OpId::triu, [](const BackwardContext& c) { return G{triu(c.grad(), c.args[1].to_int())}; });
  // In-place ops: args[0] is self as it was before the write (see the autograd handler).
  r.derivative(OpId::copy_, [](const BackwardContext& c) {
    Tensor gs = c.need(1) ? (c.grad().dtype() == c.in(1).dtype() ? c.grad() : to(c.grad(), c.in(1).dtype())) : Tensor();
    return G{c.need(0) ? zeros_like(c.grad()) : Tensor(), gs};
  });
  r.derivative(OpId::add__Tensor, [](const BackwardContext& c) {
    Scalar alpha = c.args[2].to_scalar();
    Tensor go = c.need(1) ? (alpha.to_double() == 1 ? c.grad() : mul(c.grad(), alpha)) : Tensor();
    return G{c.grad(), go};
  });
  r.derivative(OpId::mul__Tensor, [](const BackwardContext& c) {
    Tensor go = c.need(1) ? mul(c.grad(), c.in(0)) : Tensor();
    Tensor gs = c.need(0) ? call1(OpId::mul_Tensor, {c.grad(), c.args[1]}) : Tensor();
    return G{gs, go};
  });
  // The functional forms: self's old value never reaches the result.
  r.derivative(OpId::copy, [](const BackwardContext& c) {
    Tensor gs = c.need(1) ? (c.grad().dtype() == c.in(1).dtype() ? c.grad() : to(c.grad(), c.in(1).dtype())) : Tensor();
    return G{c.need(0) ? zeros_like(c.grad()) : Tensor(), gs};
  });
  r.derivative(OpId::fill_Scalar, [](const BackwardContext& c) { return G{zeros_like(c.grad())}; });
  r.derivative(OpId::as_strided_scatter, [](const BackwardContext& c) {
    // self: the gradient outside the window; src: the gradient inside it.
    const IntList &size = c.args[2].to_int_list(), &stride = c.args[3].to_int_list();
    const int64_t off = c.args[4].is_none() ? 0 : c.args[4].to_int();
    Tensor g = contiguous(c.grad());
    Tensor gself = c.need(0) ? as_strided_scatter(g, zeros(size, g.dtype()), size, stride, off) : Tensor();
    Tensor gsrc = c.need(1) ? as_strided(g, size, stride, g.storage_offset() + off) : Tensor();
    return G{gself, gsrc};
  });
  r.derivative(OpId::zero, [](const BackwardContext& c) { return G{zeros_like(c.grad())}; });
  r.derivative(OpId::fill__Scalar, [](const BackwardContext& c) { return G{zeros_like(c.grad())}; });
  r.derivative(OpId::zero_, [](const BackwardContext& c) { return G{zeros_like(c.grad())}; });
}

}  // namespace aotgrad::ops
