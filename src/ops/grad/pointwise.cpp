// Derivatives of the pointwise family, written with the tensor API so that
// eager autograd and tracing run the same code (STYLE.md rule 2).
//
// Note [Derivative order]: where an op has several differentiable inputs, the
// gradients are computed in the order PyTorch's generated code computes them
// (alphabetical by argument name: "other" before "self", "mat1" before "self"),
// so traced backward graphs list their nodes in PyTorch's order. Broadcast
// inputs are reduced by the engine (sum_to), not here.
//
// Note [Evaluation order]: C++ leaves the order in which a call's arguments are
// evaluated unspecified (g++ goes right to left), while Python goes left to right.
// A formula like logical_and(ge(x, a), le(x, b)) would record le before ge. Where
// two arguments both dispatch ops, they get their own statements, in Python's order.
#include <cmath>

#include "aotgrad/ops.h"
#include "ops/dispatch.h"
#include "ops/families.h"

namespace aotgrad::ops {

namespace {
using G = std::vector<Tensor>;
Tensor scale(const Tensor& g, const Scalar& alpha) {
  return alpha.to_double() == 1 ? g : mul(g, alpha);
}

void register_power_derivatives(Registry& r) {
  r.derivative(OpId::pow_Tensor_Scalar, [](const BackwardContext& c) {
    const double e = c.args[1].to_scalar().to_double();
    if (e == 0) return G{zeros_like(c.in(0))};
    return G{mul(c.grad(), mul(pow(c.in(0), Scalar(e - 1)), Scalar(e)))};
  });
  // PyTorch's pow_backward_self / pow_backward_exponent: the exponent's gradient is
  // g * x^e * log(x), taken as 0 where x == 0 and e >= 0 (where log(x) is -inf).
  r.derivative(OpId::pow_Tensor_Tensor, [](const BackwardContext& c) {
    const Tensor &x = c.in(0), &e = c.in(1);
    Tensor grad_self, grad_exponent;
    if (c.need(0)) {
      Tensor e_minus_1 = sub(e, Scalar(1));
      Tensor power = call1(OpId::pow_Tensor_Tensor, {x, e_minus_1});
      Tensor slope = mul(e, power);
      grad_self = mul(c.grad(), slope);
    }
    if (c.need(1)) {
      Tensor result = call1(OpId::pow_Tensor_Tensor, {x, e});
      Tensor log_x = log(x);
      Tensor term = mul(result, log_x);
      Tensor at_zero = logical_and(eq(x, Scalar(0)), ge(e, Scalar(0)));
      Tensor safe = masked_fill(term, at_zero, 0);
      grad_exponent = mul(c.grad(), safe);
    }
    return G{grad_self, grad_exponent};
  });
}

// The derivatives that read the op's result (Note [Saved results]).
void register_result_reading_derivatives(Registry& r) {
  r.derivative(OpId::exp, reads_result, [](const BackwardContext& c) { return G{mul(c.grad(), c.out())}; });
  r.derivative(OpId::tanh, reads_result, [](const BackwardContext& c) { return G{tanh_backward(c.grad(), c.out())}; });
  r.derivative(OpId::sigmoid, reads_result,
               [](const BackwardContext& c) { return G{sigmoid_backward(c.grad(), c.out())}; });
  r.derivative(OpId::sqrt, reads_result,
               [](const BackwardContext& c) { return G{div(c.grad(), mul(c.out(), Scalar(2)))}; });
  r.derivative(OpId::rsqrt, reads_result, [](const BackwardContext& c) {
    Tensor cube = pow(c.out(), Scalar(3));
    return G{mul(mul(c.grad(), Scalar(-0.5)), cube)};
  });
  r.derivative(OpId::reciprocal, reads_result,
               [](const BackwardContext& c) { return G{mul(neg(c.grad()), mul(c.out(), c.out()))}; });
  r.derivative(OpId::relu, reads_result,
               [](const BackwardContext& c) { return G{threshold_backward(c.grad(), c.out(), Scalar(0))}; });
}
}  // namespace

void register_pointwise_derivatives(Registry& r) {
  register_power_derivatives(r);
  register_result_reading_derivatives(r);
  r.derivative(OpId::neg, [](const BackwardContext& c) { return G{neg(c.grad())}; });
  r.derivative(OpId::abs, [](const BackwardContext& c) { return G{mul(c.grad(), sgn(c.in(0)))}; });
  r.derivative(OpId::sgn, [](const BackwardContext& c) { return G{zeros_like(c.grad())}; });
  r.derivative(OpId::sign, [](const BackwardContext& c) { return G{zeros_like(c.grad())}; });
  r.derivative(OpId::log, [](const BackwardContext& c) { return G{div(c.grad(), c.in(0))}; });
  r.derivative(OpId::sin, [](const BackwardContext& c) { return G{mul(c.grad(), cos(c.in(0)))}; });
  r.derivative(OpId::cos, [](const BackwardContext& c) { return G{mul(c.grad(), neg(sin(c.in(0))))}; });
  r.derivative(OpId::erf, [](const BackwardContext& c) {
    Tensor e = exp(neg(pow(c.in(0), Scalar(2))));
    return G{mul(mul(e, Scalar(2.0 / std::sqrt(M_PI))), c.grad())};
  });
  r.derivative(OpId::gelu,
               [](const BackwardContext& c) { return G{gelu_backward(c.grad(), c.in(0), c.args[1].to_string())}; });
  for (OpId id : {OpId::logical_not, OpId::threshold_backward, OpId::gelu_backward, OpId::sigmoid_backward,
                  OpId::tanh_backward, OpId::eq_Tensor, OpId::eq_Scalar, OpId::ne_Tensor, OpId::ne_Scalar,
                  OpId::gt_Tensor, OpId::gt_Scalar, OpId::ge_Tensor, OpId::ge_Scalar, OpId::lt_Tensor, OpId::lt_Scalar,
                  OpId::le_Tensor, OpId::le_Scalar, OpId::logical_and})
    r.not_differentiable(id);

  r.derivative(OpId::add_Tensor, [](const BackwardContext& c) {
    Tensor go = c.need(1) ? scale(c.grad(), c.args[2].to_scalar()) : Tensor();
    return G{c.grad(), go};
  });
  r.derivative(OpId::add_Scalar, [](const BackwardContext& c) { return G{c.grad()}; });
  r.derivative(OpId::sub_Tensor, [](const BackwardContext& c) {
    Tensor go = c.need(1) ? scale(neg(c.grad()), c.args[2].to_scalar()) : Tensor();
    return G{c.grad(), go};
  });
  r.derivative(OpId::sub_Scalar, [](const BackwardContext& c) { return G{c.grad()}; });
  r.derivative(OpId::rsub_Scalar,
               [](const BackwardContext& c) { return G{scale(neg(c.grad()), c.args[2].to_scalar())}; });
  r.derivative(OpId::mul_Tensor, [](const BackwardContext& c) {
    Tensor go = c.need(1) ? mul(c.grad(), c.in(0)) : Tensor();
    Tensor gs = c.need(0) ? call1(OpId::mul_Tensor, {c.grad(), c.args[1]}) : Tensor();
    return G{gs, go};
  });
  r.derivative(OpId::mul_Scalar, [](const BackwardContext& c) { return G{mul(c.grad(), c.args[1].to_scalar())}; });
  r.derivative(OpId::div_Tensor, [](const BackwardContext& c) {
    Tensor go;
    if (c.need(1)) {
      Tensor q = div(div(c.in(0), c.in(1)), c.in(1));
      go = mul(neg(c.grad()), q);
    }
    Tensor gs = c.need(0) ? call1(OpId::div_Tensor, {c.grad(), c.args[1]}) : Tensor();
    return G{gs, go};
  });
  r.derivative(OpId::div_Scalar, [](const BackwardContext& c) { return G{div(c.grad(), c.args[1].to_scalar())}; });
  r.derivative(OpId::maximum, [](const BackwardContext& c) {
    const Tensor &a = c.in(0), &b = c.in(1);
    Tensor half = div(c.grad(), Scalar(2));
    Tensor tie = eq(a, b);
    Tensor go = c.need(1) ? masked_fill(where(tie, half, c.grad()), gt(a, b), 0) : Tensor();
    Tensor gs = c.need(0) ? masked_fill(where(tie, half, c.grad()), lt(a, b), 0) : Tensor();
    return G{gs, go};
  });
  r.derivative(OpId::minimum, [](const BackwardContext& c) {
    const Tensor &a = c.in(0), &b = c.in(1);
    Tensor half = div(c.grad(), Scalar(2));
    Tensor tie = eq(a, b);
    Tensor go = c.need(1) ? masked_fill(where(tie, half, c.grad()), lt(a, b), 0) : Tensor();
    Tensor gs = c.need(0) ? masked_fill(where(tie, half, c.grad()), gt(a, b), 0) : Tensor();
    return G{gs, go};
  });
  r.derivative(OpId::where_self, [](const BackwardContext& c) {
    const Tensor& cond = c.in(0);
    DType dt = c.grad().dtype();
    Tensor go = c.need(2) ? where(cond, scalar_tensor(Scalar(0), dt), c.grad()) : Tensor();
    Tensor gs = c.need(1) ? where(cond, c.grad(), scalar_tensor(Scalar(0), dt)) : Tensor();
    return G{Tensor(), gs, go};
  });
  r.derivative(OpId::clamp, [](const BackwardContext& c) {
    const Tensor& x = c.in(0);
    Tensor zero = scalar_tensor(Scalar(0.0), c.grad().dtype());
    Tensor keep;
    if (!c.args[1].is_none() && !c.args[2].is_none()) {
      // Separate statements: the graph must list ge before le (Note [Evaluation order]).
      Tensor above_min = ge(x, c.args[1].to_scalar());
      Tensor below_max = le(x, c.args[2].to_scalar());
      keep = logical_and(above_min, below_max);
    } else if (!c.args[1].is_none())
      keep = ge(x, c.args[1].to_scalar());
    else
      keep = le(x, c.args[2].to_scalar());
    return G{where(keep, c.grad(), zero)};
  });
  r.derivative(OpId::masked_fill_Scalar,
               [](const BackwardContext& c) { return G{masked_fill(c.grad(), c.in(1), Scalar(0))}; });
}

}  // namespace aotgrad::ops
