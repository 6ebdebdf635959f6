// Lowerings of the pointwise family to prims.
#include <cmath>

#include "ops/lowerings/lower.h"

namespace aotgrad::ops {

using namespace lower;

namespace {
// An operand of an elementwise prim: converted, and broadcast unless it is 0-d (a
// 0-d tensor stands for a scalar beside any shape, as PyTorch's prims take it).
Tensor spread(const Tensor& t, DType dtype, const Shape& shape) {
  Tensor c = to_type(t, dtype);
  return c.dim() == 0 ? c : bcast(c, shape);
}

// The second operand: a spread tensor, or a number left as it is.
IValue operand_as(const IValue& v, DType dtype, const Shape& shape) {
  if (!v.is_tensor()) return v;
  return IValue(spread(v.to_tensor(), dtype, shape));
}

Shape shape_of(const IValue& a, const IValue& b) {
  const Tensor& x = a.to_tensor();
  return b.is_tensor() ? broadcast_shapes(x.sizes(), b.to_tensor().sizes(), "pointwise") : x.sizes();
}

// An arithmetic binary op computed in its result dtype.
Tensor arith(OpId aten, Tensor (*prim)(const Tensor&, const IValue&), const Args& a) {
  const DType dt = out_dtype(aten, a);
  const Shape s = shape_of(a[0], a[1]);
  Tensor x = spread(a[0].to_tensor(), dt, s);
  IValue y = operand_as(a[1], dt, s);
  if (x.dim() == 0 && y.is_tensor() && y.to_tensor().dim() == 0 && !s.empty()) x = bcast(x, s);  // both 0-d
  if (a.size() > 2 && !(a[2].to_scalar() == Scalar(1))) {                                        // alpha
    y = y.is_tensor() ? IValue(prims::mul(y.to_tensor(), a[2]))
                      : IValue(a[1].to_scalar().to_double() * a[2].to_scalar().to_double());
  }
  return prim(x, y);
}

// A comparison computed in the operands' common dtype.
Tensor compare(Tensor (*prim)(const Tensor&, const IValue&), const Args& a) {
  const DType ct = result_type(a[0], a[1]);
  const Shape s = shape_of(a[0], a[1]);
  Tensor x = spread(a[0].to_tensor(), ct, s);
  IValue y = operand_as(a[1], ct, s);
  if (x.dim() == 0 && (!y.is_tensor() || y.to_tensor().dim() == 0) && !s.empty()) x = bcast(x, s);
  return prim(x, y);
}

Tensor unary(OpId aten, Tensor (*prim)(const Tensor&), const Args& a) {
  return prim(to_type(a[0].to_tensor(), out_dtype(aten, a)));
}

// A number beside `like` in a prim: a float for a floating tensor, an integer for an
// integral one (when v is whole). relu and threshold_backward lower with these, not
// with tensors of zeros, as in PyTorch: where(x <= 0.0, 0.0, x).
IValue number_like(const Tensor& like, double v) {
  if (is_floating(like.dtype()) || v != std::floor(v)) return IValue(v);
  return IValue(static_cast<int64_t>(v));
}

Tensor erf_cdf(const Tensor& x) {  // 0.5 * (1 + erf(x / sqrt(2)))
  return prims::mul(prims::add(prims::erf(prims::mul(x, M_SQRT1_2)), 1), 0.5);
}
}  // namespace

void register_pointwise_lowerings(Registry& r) {
#define AG_LOWER_UNARY(aten, prim) \
  r.decomposition(OpId::aten, [](const Args& a) { return single(unary(OpId::aten, prims::prim, a)); });
  AG_LOWER_UNARY(neg, neg)
  AG_LOWER_UNARY(abs, abs)
  AG_LOWER_UNARY(sgn, sign)
  AG_LOWER_UNARY(sign, sign)
  AG_LOWER_UNARY(exp, exp)
  AG_LOWER_UNARY(log, log)
  AG_LOWER_UNARY(sin, sin)
  AG_LOWER_UNARY(cos, cos)
  AG_LOWER_UNARY(tanh, tanh)
  AG_LOWER_UNARY(sqrt, sqrt)
  AG_LOWER_UNARY(rsqrt, rsqrt)
  AG_LOWER_UNARY(erf, erf)
  AG_LOWER_UNARY(reciprocal, reciprocal)
#undef AG_LOWER_UNARY
#define AG_LOWER_ARITH(aten, prim) \
  r.decomposition(OpId::aten, [](const Args& a) { return single(arith(OpId::aten, prims::prim, a)); });
  AG_LOWER_ARITH(add_Tensor, add)
  AG_LOWER_ARITH(add_Scalar, add)
  AG_LOWER_ARITH(sub_Tensor, sub)
  AG_LOWER_ARITH(sub_Scalar, sub)
  AG_LOWER_ARITH(mul_Tensor, mul)
  AG_LOWER_ARITH(mul_Scalar, mul)
  AG_LOWER_ARITH(div_Tensor, div)
  AG_LOWER_ARITH(div_Scalar, div)
  AG_LOWER_ARITH(maximum, maximum)
  AG_LOWER_ARITH(minimum, minimum)
  AG_LOWER_ARITH(pow_Tensor_Scalar, pow)
#undef AG_LOWER_ARITH
#define AG_LOWER_COMPARE(aten, prim) \
  r.decomposition(OpId::aten, [](const Args& a) { return single(compare(prims::prim, a)); });
  AG_LOWER_COMPARE(eq_Tensor, eq)
  AG_LOWER_COMPARE(eq_Scalar, eq)
  AG_LOWER_COMPARE(ne_Tensor, ne)
  AG_LOWER_COMPARE(ne_Scalar, ne)
  AG_LOWER_COMPARE(gt_Tensor, gt)
  AG_LOWER_COMPARE(gt_Scalar, gt)
  AG_LOWER_COMPARE(ge_Tensor, ge)
  AG_LOWER_COMPARE(ge_Scalar, ge)
  AG_LOWER_COMPARE(lt_Tensor, lt)
  AG_LOWER_COMPARE(lt_Scalar, lt)
  AG_LOWER_COMPARE(le_Tensor, le)
  AG_LOWER_COMPARE(le_Scalar, le)
#undef AG_LOWER_COMPARE
  r.decomposition(OpId::rsub_Scalar, [](const Args& a) {  // other - alpha * self
    const DType dt = out_dtype(OpId::rsub_Scalar, a);
    Tensor x = to_type(a[0].to_tensor(), dt);
    if (!(a[2].to_scalar() == Scalar(1))) x = prims::mul(x, a[2]);
    return single(prims::add(prims::neg(x), a[1]));
  });
  r.decomposition(OpId::logical_and, [](const Args& a) {
    const Shape s = shape_of(a[0], a[1]);
    auto as_bool = [&](const Tensor& t) { return bcast(t.dtype() == DType::Bool ? t : prims::ne(t, 0), s); };
    Tensor x = as_bool(a[0].to_tensor());  // one statement each: Note [Evaluation order]
    Tensor y = as_bool(a[1].to_tensor());
    return single(prims::bitwise_and(x, y));
  });
  r.decomposition(OpId::logical_not, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    return single(x.dtype() == DType::Bool ? prims::eq(x, false) : prims::eq(x, 0));
  });
  r.decomposition(OpId::where_self, [](const Args& a) {
    // self / other may be wrapped numbers: they become prims.full values.
    const Tensor& c = a[0].to_tensor();
    const DType dt = result_type(a[1], a[2]);
    auto tensor_of = [&](const IValue& v) {
      return v.is_tensor() ? to_type(v.to_tensor(), dt) : prims::full({}, v.to_scalar(), dt);
    };
    Tensor x = tensor_of(a[1]);
    Tensor y = tensor_of(a[2]);
    Shape s = broadcast_shapes(broadcast_shapes(c.sizes(), x.sizes(), "where"), y.sizes(), "where");
    Tensor pred = bcast(c, s);
    Tensor xs = bcast(x, s);
    Tensor ys = bcast(y, s);
    return single(prims::where(pred, fresh(xs, a[1].is_tensor() ? a[1].to_tensor() : Tensor()),
                               fresh(ys, a[2].is_tensor() ? a[2].to_tensor() : Tensor())));
  });
  r.decomposition(OpId::clamp, [](const Args& a) {
    const Tensor& x0 = a[0].to_tensor();
    const DType dt = out_dtype(OpId::clamp, a);
    Tensor x = to_type(x0, dt);
    if (!a[1].is_none()) x = prims::maximum(x, a[1]);
    if (!a[2].is_none()) x = prims::minimum(x, a[2]);
    return single(fresh(x, x0));
  });
  r.decomposition(OpId::masked_fill_Scalar, [](const Args& a) {
    const Tensor &x = a[0].to_tensor(), &mask = a[1].to_tensor();
    Tensor pred = bcast(mask, x.sizes());
    Tensor value = bcast(prims::full({}, a[2].to_scalar(), x.dtype()), x.sizes());
    return single(prims::where(pred, value, x));
  });
  r.decomposition(OpId::sigmoid, [](const Args& a) {
    Tensor x = to_type(a[0].to_tensor(), out_dtype(OpId::sigmoid, a));
    return single(prims::reciprocal(prims::add(prims::exp(prims::neg(x)), 1)));
  });
  r.decomposition(OpId::relu, [](const Args& a) {  // where(x <= 0, 0, x)
    const Tensor& x = a[0].to_tensor();
    Tensor pred = prims::le(x, number_like(x, 0));
    return single(prims::where(pred, number_like(x, 0), x));
  });
  r.decomposition(OpId::threshold_backward, [](const Args& a) {  // where(x <= threshold, 0, g)
    const Tensor &g = a[0].to_tensor(), &x = a[1].to_tensor();
    Tensor pred = bcast(prims::le(x, number_like(x, a[2].to_scalar().to_double())), g.sizes());
    return single(prims::where(pred, number_like(g, 0), g));
  });
  r.decomposition(OpId::gelu, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    if (a[1].to_string() == "tanh") {  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
      Tensor inner =
          prims::mul(prims::add(x, prims::mul(prims::mul(prims::mul(x, x), x), 0.044715)), std::sqrt(2.0 / M_PI));
      Tensor half_x = prims::mul(x, 0.5);
      return single(prims::mul(half_x, prims::add(prims::tanh(inner), 1)));
    }
    return single(prims::mul(x, erf_cdf(x)));
  });
  r.decomposition(OpId::gelu_backward, [](const Args& a) {
    const Tensor &g = a[0].to_tensor(), &x = a[1].to_tensor();
    AG_CHECK(a[2].to_string() == "none", "gelu_backward: only the erf form lowers to prims");
    // g * (cdf(x) + x * pdf(x)), pdf = exp(-x^2 / 2) / sqrt(2 pi)
    Tensor pdf = prims::mul(prims::exp(prims::mul(prims::mul(x, x), -0.5)), 1.0 / std::sqrt(2 * M_PI));
    Tensor cdf = erf_cdf(x);
    return single(prims::mul(g, prims::add(cdf, prims::mul(x, pdf))));
  });
  r.decomposition(OpId::sigmoid_backward, [](const Args& a) {  // g * (1 - y) * y
    const Tensor &g = a[0].to_tensor(), &y = a[1].to_tensor();
    return single(prims::mul(prims::mul(g, prims::add(prims::neg(y), 1)), y));
  });
  r.decomposition(OpId::tanh_backward, [](const Args& a) {  // g * (1 - y^2)
    const Tensor &g = a[0].to_tensor(), &y = a[1].to_tensor();
    return single(prims::mul(g, prims::add(prims::neg(prims::mul(y, y)), 1)));
  });
}

}  // namespace aotgrad::ops
