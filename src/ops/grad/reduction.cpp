// Derivatives of the reduction family. See Note [Derivative order] in grad/pointwise.cpp.
#include <algorithm>

#include "aotgrad/ops.h"
#include "ops/dispatch.h"
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

namespace {
using G = std::vector<Tensor>;

IntList dims_of(const IValue& v) {
  return v.is_none() ? IntList{} : v.to_int_list();
}

// Puts back the reduced dims (size 1) that keepdim=False removed.
Tensor restore_dims(const Tensor& g, const Tensor& x, const IntList& dims, bool keepdim) {
  if (keepdim || x.dim() == 0) return g;
  if (dims.empty()) {
    Tensor r = g;
    for (int64_t d = 0; d < x.dim(); ++d) r = unsqueeze(r, d);
    return r;
  }
  auto mask = reduction_mask(dims, x.dim(), "sum");
  Tensor r = g;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (mask[d]) r = unsqueeze(r, d);
  return r;
}

// The number of elements a mean divides by: a number in the graph, so a symbolic
// count is specialised (guard_int).
int64_t reduced_count(const Tensor& x, const IntList& dims) {
  auto mask = reduction_mask(dims, x.dim(), "mean");
  SymInt n(1);
  for (int64_t d = 0; d < x.dim(); ++d)
    if (mask[d]) n = n * x.sym_size(d);
  return guard_int(n, "a mean's gradient divides by the number of elements");
}

Tensor minmax_backward(const BackwardContext& c) {
  const Tensor& x = c.in(0);
  IntList dims = c.args[1].to_int_list();
  bool keepdim = c.args[2].to_bool();
  Tensor g = restore_dims(c.grad(), x, dims, keepdim);
  Tensor res = restore_dims(c.out(), x, dims, keepdim);
  Tensor mask = eq(res, x);
  Tensor n = sum(mask, dims.empty() ? IntList{} : dims, true);
  return mul(div(g, n), mask);
}
}  // namespace

void register_reduction_derivatives(Registry& r) {
  r.derivative(OpId::sum, [](const BackwardContext& c) { return G{expand(c.grad(), c.in(0).sym_sizes())}; });
  r.derivative(OpId::sum_dim_IntList, [](const BackwardContext& c) {
    Tensor g = restore_dims(c.grad(), c.in(0), dims_of(c.args[1]), c.args[2].to_bool());
    return G{expand(g, c.in(0).sym_sizes())};
  });
  r.derivative(OpId::mean, [](const BackwardContext& c) {
    return G{div(expand(c.grad(), c.in(0).sym_sizes()), Scalar(reduced_count(c.in(0), {})))};
  });
  r.derivative(OpId::mean_dim, [](const BackwardContext& c) {
    IntList dims = dims_of(c.args[1]);
    Tensor g = restore_dims(c.grad(), c.in(0), dims, c.args[2].to_bool());
    return G{div(expand(g, c.in(0).sym_sizes()), Scalar(reduced_count(c.in(0), dims)))};
  });
  r.derivative(OpId::var_correction, [](const BackwardContext& c) {
    const Tensor& x = c.in(0);
    IntList dims = dims_of(c.args[1]);
    double corr = c.args[2].is_none() ? 1.0 : c.args[2].to_scalar().to_double();
    Tensor g = restore_dims(c.grad(), x, dims, c.args[3].to_bool());
    double n = reduced_count(x, dims);
    Tensor centred = sub(x, mean(x, dims.empty() ? IntList{} : dims, true));
    return G{mul(mul(g, Scalar(2.0 / (n - corr))), centred)};
  });
  r.derivative(OpId::amax, reads_result, [](const BackwardContext& c) { return G{minmax_backward(c)}; });
  r.derivative(OpId::amin, reads_result, [](const BackwardContext& c) { return G{minmax_backward(c)}; });
  r.not_differentiable(OpId::argmax);
  r.derivative(OpId::_softmax, reads_result, [](const BackwardContext& c) {
    return G{_softmax_backward_data(c.grad(), c.out(), c.args[1].to_int(), c.in(0).dtype())};
  });
  r.derivative(OpId::_log_softmax, reads_result, [](const BackwardContext& c) {
    return G{_log_softmax_backward_data(c.grad(), c.out(), c.args[1].to_int(), c.in(0).dtype())};
  });
  r.not_differentiable(OpId::_softmax_backward_data);
  r.not_differentiable(OpId::_log_softmax_backward_data);
}

}  // namespace aotgrad::ops
