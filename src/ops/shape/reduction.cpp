// Shape rules of the reduction family.
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

namespace {
DType sum_type(const Tensor& x, const IValue& dtype) {
  if (!dtype.is_none()) return dtype.to_dtype();
  return is_floating(x.dtype()) ? x.dtype() : DType::Int64;
}
IntList dims_or_all(const IValue& v) {
  return v.is_none() ? IntList{} : v.to_int_list();
}

Outputs reduce(const Tensor& x, const IntList& dims, bool keepdim, DType dt, std::string_view op) {
  auto mask = reduction_mask(dims, x.dim(), op);
  return single(meta(reduced_shape(x.sizes(), mask, keepdim), dt));
}
Outputs same_shape(const Args& a, std::string_view op) {
  const Tensor& x = a[0].to_tensor();
  normalize_dim(a[op == "softmax" || op == "log_softmax" ? 1 : 2].to_int(), x.dim(), op);
  check_floating(x, op, "self");
  return single(meta(x.sizes(), x.dtype()));
}
}  // namespace

void register_reduction_shapes(Registry& r) {
  r.shape(OpId::sum, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    return single(meta({}, sum_type(x, a[1])));
  });
  r.shape(OpId::sum_dim_IntList, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    return reduce(x, dims_or_all(a[1]), a[2].to_bool(), sum_type(x, a[3]), "sum");
  });
  r.shape(OpId::mean, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    check_floating(x, "mean", "self");
    return single(meta({}, x.dtype()));
  });
  r.shape(OpId::mean_dim, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    check_floating(x, "mean", "self");
    return reduce(x, dims_or_all(a[1]), a[2].to_bool(), x.dtype(), "mean");
  });
  r.shape(OpId::var_correction, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    check_floating(x, "var", "self");
    return reduce(x, dims_or_all(a[1]), a[3].to_bool(), x.dtype(), "var");
  });
  auto minmax = [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    AG_CHECK(x.numel() > 0, "amax/amin: expected a non-empty tensor, but got {}", x.describe());
    return reduce(x, a[1].to_int_list(), a[2].to_bool(), x.dtype(), "amax");
  };
  r.shape(OpId::amax, minmax);
  r.shape(OpId::amin, minmax);
  r.shape(OpId::argmax, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    AG_CHECK(x.numel() > 0, "argmax: expected a non-empty tensor, but got {}", x.describe());
    if (a[1].is_none()) return single(meta(a[2].to_bool() ? Shape(x.dim(), 1) : Shape{}, DType::Int64));
    return reduce(x, {a[1].to_int()}, a[2].to_bool(), DType::Int64, "argmax");
  });
  r.shape(OpId::_softmax, [](const Args& a) { return same_shape(a, "softmax"); });
  r.shape(OpId::_log_softmax, [](const Args& a) { return same_shape(a, "log_softmax"); });
  auto bwd = [](const Args& a) {
    const Tensor &g = a[0].to_tensor(), &y = a[1].to_tensor();
    AG_CHECK(g.sizes() == y.sizes(),
             "softmax backward: expected grad_output and output to have the same shape, but got {} and {}",
             g.describe(), y.describe());
    normalize_dim(a[2].to_int(), g.dim(), "softmax backward");
    return single(meta(g.sizes(), g.dtype()));
  };
  r.shape(OpId::_softmax_backward_data, bwd);
  r.shape(OpId::_log_softmax_backward_data, bwd);
}

}  // namespace aotgrad::ops
