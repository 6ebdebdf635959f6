// The prims' typed API: each packs its arguments and goes through the dispatcher.
#include "aotgrad/prims.h"
#include "ops/dispatch.h"

namespace aotgrad::prims {

using ops::OpId;

namespace {
Tensor c1(OpId id, Args a) {
  return ops::call1(id, std::move(a));
}
}  // namespace

Tensor neg(const Tensor& x) {
  return c1(OpId::prims_neg, {x});
}
Tensor abs(const Tensor& x) {
  return c1(OpId::prims_abs, {x});
}
Tensor exp(const Tensor& x) {
  return c1(OpId::prims_exp, {x});
}
Tensor log(const Tensor& x) {
  return c1(OpId::prims_log, {x});
}
Tensor sin(const Tensor& x) {
  return c1(OpId::prims_sin, {x});
}
Tensor cos(const Tensor& x) {
  return c1(OpId::prims_cos, {x});
}
Tensor tanh(const Tensor& x) {
  return c1(OpId::prims_tanh, {x});
}
Tensor sqrt(const Tensor& x) {
  return c1(OpId::prims_sqrt, {x});
}
Tensor rsqrt(const Tensor& x) {
  return c1(OpId::prims_rsqrt, {x});
}
Tensor erf(const Tensor& x) {
  return c1(OpId::prims_erf, {x});
}
Tensor sign(const Tensor& x) {
  return c1(OpId::prims_sign, {x});
}
Tensor reciprocal(const Tensor& x) {
  return c1(OpId::prims_reciprocal, {x});
}
Tensor add(const Tensor& a, const IValue& b) {
  return c1(OpId::prims_add, {a, b});
}
Tensor sub(const Tensor& a, const IValue& b) {
  return c1(OpId::prims_sub, {a, b});
}
Tensor mul(const Tensor& a, const IValue& b) {
  return c1(OpId::prims_mul, {a, b});
}
Tensor div(const Tensor& a, const IValue& b) {
  return c1(OpId::prims_div, {a, b});
}
Tensor maximum(const Tensor& a, const IValue& b) {
  return c1(OpId::prims_maximum, {a, b});
}
Tensor minimum(const Tensor& a, const IValue& b) {
  return c1(OpId::prims_minimum, {a, b});
}
Tensor pow(const Tensor& a, const IValue& b) {
  return c1(OpId::prims_pow, {a, b});
}
Tensor eq(const Tensor& a, const IValue& b) {
  return c1(OpId::prims_eq, {a, b});
}
Tensor ne(const Tensor& a, const IValue& b) {
  return c1(OpId::prims_ne, {a, b});
}
Tensor gt(const Tensor& a, const IValue& b) {
  return c1(OpId::prims_gt, {a, b});
}
Tensor ge(const Tensor& a, const IValue& b) {
  return c1(OpId::prims_ge, {a, b});
}
Tensor lt(const Tensor& a, const IValue& b) {
  return c1(OpId::prims_lt, {a, b});
}
Tensor le(const Tensor& a, const IValue& b) {
  return c1(OpId::prims_le, {a, b});
}
Tensor bitwise_and(const Tensor& a, const Tensor& b) {
  return c1(OpId::prims_bitwise_and, {a, b});
}
Tensor where(const Tensor& p, const IValue& a, const IValue& b) {
  return c1(OpId::prims_where, {p, a, b});
}
Tensor convert_element_type(const Tensor& x, DType dtype) {
  return c1(OpId::prims_convert_element_type, {x, dtype});
}
Tensor clone(const Tensor& x) {
  return c1(OpId::prims_clone, {x});
}
Tensor full(const IntList& shape, Scalar value, DType dtype) {
  return c1(OpId::prims_full, {shape, value, dtype});
}
Tensor broadcast_in_dim(const Tensor& x, const IntList& shape, const IntList& dims) {
  return c1(OpId::prims_broadcast_in_dim, {x, shape, dims});
}
Tensor transpose(const Tensor& x, const IntList& perm) {
  return c1(OpId::prims_transpose, {x, perm});
}
Tensor squeeze(const Tensor& x, const IntList& dims) {
  return c1(OpId::prims_squeeze, {x, dims});
}
Tensor slice(const Tensor& x, const IntList& start, const IntList& limit, const IntList& strides) {
  return c1(OpId::prims_slice, {x, start, limit, strides});
}
Tensor view_of(const Tensor& x) {
  return c1(OpId::prims_view_of, {x});
}
Tensor reshape(const Tensor& x, const IntList& shape) {
  return c1(OpId::prims_reshape, {x, shape});
}
Tensor cat(const TensorList& ts, int64_t dim) {
  return c1(OpId::prims_cat, {ts, dim});
}
Tensor sum(const Tensor& x, const IntList& dims) {
  return c1(OpId::prims_sum, {x, dims.empty() ? IValue() : IValue(dims)});
}
Tensor amax(const Tensor& x, const IntList& dims) {
  return c1(OpId::prims_amax, {x, dims.empty() ? IValue() : IValue(dims)});
}
Tensor var(const Tensor& x, const IntList& dims, double correction) {
  return c1(OpId::prims_var, {x, dims.empty() ? IValue() : IValue(dims), correction});
}

}  // namespace aotgrad::prims
