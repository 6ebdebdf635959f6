// Shape rules of the pointwise family: broadcasting and result dtypes.
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

namespace {
Outputs same_as_self(const Args& a) {
  const Tensor& x = a[0].to_tensor();
  return single(meta(x.sizes(), x.dtype()));
}
Outputs float_of_self(const Args& a) {
  const Tensor& x = a[0].to_tensor();
  return single(meta(x.sizes(), float_type(x.dtype())));
}
Outputs bool_of_self(const Args& a) {
  return single(meta(a[0].to_tensor().sizes(), DType::Bool));
}

Shape broadcast2(const Args& a, std::string_view op) {
  return broadcast_shapes(operand(a[0]).sizes(), operand(a[1]).sizes(), op);
}
Outputs arith(const Args& a, std::string_view op) {
  return single(meta(broadcast2(a, op), result_type(a[0], a[1])));
}
Outputs true_div(const Args& a, std::string_view op) {
  return single(meta(broadcast2(a, op), float_type(result_type(a[0], a[1]))));
}
Outputs compare(const Args& a, std::string_view op) {
  return single(meta(broadcast2(a, op), DType::Bool));
}
// grad_output and a saved tensor of the same shape.
Outputs backward_pair(const Args& a, std::string_view op) {
  Shape s = broadcast2(a, op);
  check_floating(a[0].to_tensor(), op, "grad_output");
  return single(meta(s, a[0].to_tensor().dtype()));
}
}  // namespace

void register_pointwise_shapes(Registry& r) {
  for (OpId id : {OpId::neg, OpId::abs, OpId::sgn, OpId::sign, OpId::relu}) r.shape(id, same_as_self);
  for (OpId id : {OpId::exp, OpId::log, OpId::sin, OpId::cos, OpId::tanh, OpId::sigmoid, OpId::sqrt, OpId::rsqrt,
                  OpId::erf, OpId::reciprocal})
    r.shape(id, float_of_self);
  r.shape(OpId::gelu, [](const Args& a) {
    const std::string& approx = a[1].to_string();
    AG_CHECK(approx == "none" || approx == "tanh", "gelu: expected approximate to be 'none' or 'tanh', but got '{}'",
             approx);
    return float_of_self(a);
  });
  r.shape(OpId::logical_not, bool_of_self);
  r.shape(OpId::threshold_backward, [](const Args& a) { return backward_pair(a, "threshold_backward"); });
  r.shape(OpId::gelu_backward, [](const Args& a) { return backward_pair(a, "gelu_backward"); });
  r.shape(OpId::sigmoid_backward, [](const Args& a) { return backward_pair(a, "sigmoid_backward"); });
  r.shape(OpId::tanh_backward, [](const Args& a) { return backward_pair(a, "tanh_backward"); });

  r.shape(OpId::add_Tensor, [](const Args& a) { return arith(a, "add"); });
  r.shape(OpId::add_Scalar, [](const Args& a) { return arith(a, "add"); });
  r.shape(OpId::sub_Tensor, [](const Args& a) { return arith(a, "sub"); });
  r.shape(OpId::sub_Scalar, [](const Args& a) { return arith(a, "sub"); });
  r.shape(OpId::rsub_Scalar, [](const Args& a) { return arith(a, "rsub"); });
  r.shape(OpId::mul_Tensor, [](const Args& a) { return arith(a, "mul"); });
  r.shape(OpId::mul_Scalar, [](const Args& a) { return arith(a, "mul"); });
  r.shape(OpId::div_Tensor, [](const Args& a) { return true_div(a, "div"); });
  r.shape(OpId::div_Scalar, [](const Args& a) { return true_div(a, "div"); });
  r.shape(OpId::pow_Tensor_Scalar, [](const Args& a) { return arith(a, "pow"); });
  r.shape(OpId::pow_Tensor_Tensor, [](const Args& a) { return arith(a, "pow"); });
  r.shape(OpId::maximum, [](const Args& a) { return arith(a, "maximum"); });
  r.shape(OpId::minimum, [](const Args& a) { return arith(a, "minimum"); });
  for (OpId id : {OpId::eq_Tensor, OpId::eq_Scalar, OpId::ne_Tensor, OpId::ne_Scalar, OpId::gt_Tensor, OpId::gt_Scalar,
                  OpId::ge_Tensor, OpId::ge_Scalar, OpId::lt_Tensor, OpId::lt_Scalar, OpId::le_Tensor, OpId::le_Scalar,
                  OpId::logical_and})
    r.shape(id, [](const Args& a) { return compare(a, "comparison"); });
  r.shape(OpId::where_self, [](const Args& a) {
    const Tensor& c = a[0].to_tensor();
    AG_CHECK(c.dtype() == DType::Bool, "where: expected condition to be a bool tensor, but got {}", c.describe());
    Shape s = broadcast_shapes(c.sizes(), broadcast2({a[1], a[2]}, "where"), "where");
    return single(meta(s, result_type(a[1], a[2])));
  });
  r.shape(OpId::clamp, [](const Args& a) {
    AG_CHECK(!a[1].is_none() || !a[2].is_none(),
             "clamp: expected at least one of min and max to be given, but both are None");
    return same_as_self(a);
  });
  r.shape(OpId::masked_fill_Scalar, [](const Args& a) {
    const Tensor &x = a[0].to_tensor(), &m = a[1].to_tensor();
    AG_CHECK(m.dtype() == DType::Bool, "masked_fill: expected mask to be a bool tensor, but got {}", m.describe());
    Shape s = broadcast_shapes(x.sizes(), m.sizes(), "masked_fill");
    AG_CHECK(s == x.sizes(), "masked_fill: mask {} must broadcast to self {}, but gives {}", shape_str(m.sizes()),
             shape_str(x.sizes()), shape_str(s));
    return same_as_self(a);
  });
}

}  // namespace aotgrad::ops
