// Derivatives of the prims, written with the tensor API (see Note [Derivative order]).
// Operands of elementwise prims have one shape, so no reduction is needed here.
#include <algorithm>
#include <cmath>

#include "aotgrad/ops.h"
#include "aotgrad/prims.h"
#include "core/shape.h"
#include "ops/dispatch.h"
#include "ops/families.h"

namespace aotgrad::ops {

namespace {
using G = std::vector<Tensor>;

bool other_is_tensor(const BackwardContext& c) {
  return c.args[1].is_tensor();
}

// The gradient of a reduction over `dims` (no kept dims), spread back over x.
Tensor unreduce(const Tensor& g, const Tensor& x, const IValue& dims_arg) {
  IntList dims = dims_arg.is_none() ? IntList{} : dims_arg.to_int_list();
  std::vector<bool> reduced(x.dim(), dims.empty());
  for (int64_t d : dims) reduced[normalize_dim(d, x.dim(), "prims reduction")] = true;
  IntList kept;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (!reduced[i]) kept.push_back(i);
  return prims::broadcast_in_dim(g, x.sizes(), kept);
}
G select_grad(const BackwardContext& c, bool max) {
  // Ties split the gradient evenly, as ATen's maximum/minimum backward does.
  const Tensor& a = c.in(0);
  Tensor b = other_is_tensor(c) ? c.in(1) : full(a.sizes(), c.args[1].to_scalar(), a.dtype());
  Tensor tie = eq(a, b);
  Tensor half = mul(c.grad(), 0.5);
  Tensor wins_a = max ? gt(a, b) : lt(a, b);
  Tensor wins_b = max ? lt(a, b) : gt(a, b);
  Tensor ga = where(tie, half, where(wins_a, c.grad(), zeros_like(c.grad())));
  Tensor gb = other_is_tensor(c) ? where(tie, half, where(wins_b, c.grad(), zeros_like(c.grad()))) : Tensor();
  return G{ga, gb};
}

// The unary prims whose derivative reads their result (Note [Saved results]).
void register_unary_result_derivatives(Registry& r) {
  r.derivative(OpId::prims_exp, reads_result, [](const BackwardContext& c) { return G{mul(c.grad(), c.out())}; });
  r.derivative(OpId::prims_tanh, reads_result,
               [](const BackwardContext& c) { return G{tanh_backward(c.grad(), c.out())}; });
  r.derivative(OpId::prims_sqrt, reads_result,
               [](const BackwardContext& c) { return G{div(c.grad(), mul(c.out(), 2))}; });
  r.derivative(OpId::prims_rsqrt, reads_result, [](const BackwardContext& c) {
    // d/dx x^-1/2 = -1/2 x^-3/2 = -1/2 y^3
    return G{mul(c.grad(), mul(pow(c.out(), 3), -0.5))};
  });
  r.derivative(OpId::prims_reciprocal, reads_result,
               [](const BackwardContext& c) { return G{mul(c.grad(), neg(mul(c.out(), c.out())))}; });
}
}  // namespace

void register_prims_derivatives(Registry& r) {
  register_unary_result_derivatives(r);
  r.derivative(OpId::prims_neg, [](const BackwardContext& c) { return G{neg(c.grad())}; });
  r.derivative(OpId::prims_abs, [](const BackwardContext& c) { return G{mul(c.grad(), sgn(c.in(0)))}; });
  r.derivative(OpId::prims_log, [](const BackwardContext& c) { return G{div(c.grad(), c.in(0))}; });
  r.derivative(OpId::prims_sin, [](const BackwardContext& c) { return G{mul(c.grad(), cos(c.in(0)))}; });
  r.derivative(OpId::prims_cos, [](const BackwardContext& c) { return G{mul(c.grad(), neg(sin(c.in(0))))}; });
  r.derivative(OpId::prims_erf, [](const BackwardContext& c) {
    return G{mul(c.grad(), mul(exp(neg(mul(c.in(0), c.in(0)))), 2.0 / std::sqrt(M_PI)))};
  });
  r.derivative(OpId::prims_sign, [](const BackwardContext& c) { return G{zeros_like(c.grad())}; });
  r.derivative(OpId::prims_add, [](const BackwardContext& c) {
    return G{c.grad(), other_is_tensor(c) && c.need(1) ? c.grad() : Tensor()};
  });
  r.derivative(OpId::prims_sub, [](const BackwardContext& c) {
    return G{c.grad(), other_is_tensor(c) && c.need(1) ? neg(c.grad()) : Tensor()};
  });
  r.derivative(OpId::prims_mul, [](const BackwardContext& c) {
    Tensor go = other_is_tensor(c) && c.need(1) ? mul(c.grad(), c.in(0)) : Tensor();
    Tensor gs = c.need(0) ? call1(OpId::mul_Tensor, {c.grad(), c.args[1]}) : Tensor();
    return G{gs, go};
  });
  r.derivative(OpId::prims_div, [](const BackwardContext& c) {
    Tensor go;
    if (other_is_tensor(c) && c.need(1)) {
      const Tensor& b = c.in(1);
      go = mul(neg(c.grad()), div(div(c.in(0), b), b));
    }
    Tensor gs = c.need(0) ? call1(OpId::div_Tensor, {c.grad(), c.args[1]}) : Tensor();
    return G{gs, go};
  });
  r.derivative(OpId::prims_maximum, [](const BackwardContext& c) { return select_grad(c, true); });
  r.derivative(OpId::prims_minimum, [](const BackwardContext& c) { return select_grad(c, false); });
  r.derivative(OpId::prims_pow, reads_result, [](const BackwardContext& c) {
    const Tensor& x = c.in(0);
    if (!other_is_tensor(c)) {
      const double e = c.args[1].to_scalar().to_double();
      return G{mul(c.grad(), mul(pow(x, e - 1.0), e))};
    }
    const Tensor& e = c.in(1);
    Tensor ge = c.need(1) ? mul(c.grad(), mul(c.out(), log(x))) : Tensor();
    Tensor gs = c.need(0) ? mul(c.grad(), mul(e, call1(OpId::prims_pow, {x, sub(e, 1)}))) : Tensor();
    return G{gs, ge};
  });
  for (OpId id : {OpId::prims_eq, OpId::prims_ne, OpId::prims_gt, OpId::prims_ge, OpId::prims_lt, OpId::prims_le,
                  OpId::prims_bitwise_and, OpId::prims_full, OpId::prims_view_of})
    r.not_differentiable(id);
  r.derivative(OpId::prims_where, [](const BackwardContext& c) {
    Tensor zero = zeros_like(c.grad());
    Tensor ga = c.need(1) ? where(c.in(0), c.grad(), zero) : Tensor();
    Tensor gb = c.need(2) ? where(c.in(0), zero, c.grad()) : Tensor();
    return G{Tensor(), ga, gb};
  });
  r.derivative(OpId::prims_convert_element_type,
               [](const BackwardContext& c) { return G{to(c.grad(), c.in(0).dtype())}; });
  r.derivative(OpId::prims_clone, [](const BackwardContext& c) { return G{c.grad()}; });
  r.derivative(OpId::prims_broadcast_in_dim, [](const BackwardContext& c) {
    // Sum over the new dims and over the input's size-1 dims that were expanded.
    const Tensor& x = c.in(0);
    const IntList& dims = c.args[2].to_int_list();
    const IntList& out = c.args[1].to_int_list();
    IntList summed;
    std::vector<bool> from_input(out.size(), false);
    for (int64_t d : dims) from_input[d] = true;
    for (size_t d = 0; d < out.size(); ++d)
      if (!from_input[d]) summed.push_back(static_cast<int64_t>(d));
    for (size_t i = 0; i < dims.size(); ++i)
      if (x.size(static_cast<int64_t>(i)) == 1 && out[dims[i]] != 1) summed.push_back(dims[i]);
    std::sort(summed.begin(), summed.end());
    Tensor g = summed.empty() ? c.grad() : sum(c.grad(), summed, true);
    return G{reshape(g, x.sizes())};
  });
  r.derivative(OpId::prims_transpose, [](const BackwardContext& c) {
    const IntList& perm = c.args[1].to_int_list();
    IntList inverse(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = static_cast<int64_t>(i);
    return G{permute(c.grad(), inverse)};
  });
  r.derivative(OpId::prims_squeeze, [](const BackwardContext& c) { return G{reshape(c.grad(), c.in(0).sizes())}; });
  r.derivative(OpId::prims_reshape, [](const BackwardContext& c) { return G{reshape(c.grad(), c.in(0).sizes())}; });
  r.derivative(OpId::prims_slice, [](const BackwardContext& c) {
    // The window of a contiguous input the slice read, filled from the gradient.
    const Tensor& x = c.in(0);
    const IntList& start = c.args[1].to_int_list();
    IntList step = c.args[3].is_none() ? IntList(x.dim(), 1) : c.args[3].to_int_list();
    Shape contig = contiguous_strides(x.sizes());
    IntList strides(x.dim());
    int64_t offset = 0;
    for (int64_t i = 0; i < x.dim(); ++i) {
      strides[i] = contig[i] * step[i];
      offset += start[i] * contig[i];
    }
    Tensor g = contiguous(c.grad());
    return G{as_strided_scatter(zeros(x.sizes(), g.dtype()), g, g.sizes(), strides, offset)};
  });
  r.derivative(OpId::prims_cat, [](const BackwardContext& c) {
    const int64_t d = c.args[1].to_int();
    G out;
    int64_t at = 0;
    for (const Tensor& t : c.args[0].to_tensor_list()) {
      out.push_back(slice(c.grad(), d, at, at + t.size(d)));
      at += t.size(d);
    }
    return out;
  });
  r.derivative(OpId::prims_sum, [](const BackwardContext& c) { return G{unreduce(c.grad(), c.in(0), c.args[1])}; });
  r.derivative(OpId::prims_amax, reads_result, [](const BackwardContext& c) {
    // Ties share the gradient evenly (ATen's amax backward).
    const Tensor& x = c.in(0);
    Tensor hit = to(eq(x, unreduce(c.out(), x, c.args[1])), x.dtype());
    Tensor count = unreduce(call1(OpId::prims_sum, {hit, c.args[1]}), x, c.args[1]);
    return G{div(mul(unreduce(c.grad(), x, c.args[1]), hit), count)};
  });
  r.derivative(OpId::prims_var, [](const BackwardContext& c) {
    const Tensor& x = c.in(0);
    IntList dims = c.args[1].is_none() ? IntList{} : c.args[1].to_int_list();
    auto mask = std::vector<bool>(x.dim(), dims.empty());
    for (int64_t d : dims) mask[normalize_dim(d, x.dim(), "prims.var")] = true;
    double n = 1;
    for (int64_t i = 0; i < x.dim(); ++i)
      if (mask[i]) n *= static_cast<double>(x.size(i));
    const double corr = c.args[2].is_none() ? 1.0 : c.args[2].to_double();
    Tensor mean = unreduce(div(call1(OpId::prims_sum, {x, c.args[1]}), n), x, c.args[1]);
    return G{mul(mul(unreduce(c.grad(), x, c.args[1]), sub(x, mean)), 2.0 / std::max(n - corr, 1.0))};
  });
}

}  // namespace aotgrad::ops
