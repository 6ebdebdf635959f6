// Elementwise ONNX ops: unary and binary math, comparisons, activations written as
// compositions of table ops (so their gradients come from the table's derivatives).
#include <cmath>
#include <limits>

#include "onnx/convert.h"

namespace aotgrad::onnx_io {

TensorList convert_unary(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  const std::string& op = ctx.node.op_type;
  if (op == "Abs") return {abs(x)};
  if (op == "Neg") return {neg(x)};
  if (op == "Exp") return {exp(x)};
  if (op == "Log") return {log(x)};
  if (op == "Sqrt") return {sqrt(x)};
  if (op == "Sin") return {sin(x)};
  if (op == "Cos") return {cos(x)};
  if (op == "Tanh") return {tanh(x)};
  if (op == "Sigmoid") return {sigmoid(x)};
  if (op == "Erf") return {erf(x)};
  if (op == "Relu") return {relu(x)};
  if (op == "Reciprocal") return {reciprocal(x)};
  if (op == "Sign") return {sign(x)};
  if (op == "Not") return {logical_not(x)};
  if (op == "Softsign") return {div(x, add(abs(x), 1))};
  if (op == "Softplus") return {log(add(exp(x), 1))};
  if (op == "Sinh") return {div(sub(exp(x), exp(neg(x))), 2.0)};
  if (op == "Cosh") return {div(add(exp(x), exp(neg(x))), 2.0)};
  if (op == "Tan") return {div(sin(x), cos(x))};
  if (op == "IsNaN") return {ne(x, x)};
  AG_INTERNAL_CHECK(false, "convert_unary: no case for {}", op);
  return {};
}

// ONNX integer division truncates toward zero; aten.div would give floats. Shape
// arithmetic is where integer Div appears (channels / groups), so it is computed on
// the static values here.
static Tensor integer_divide(NodeContext& ctx) {
  AG_CHECK(ctx.is_static(0) && ctx.is_static(1),
           "unsupported: integer Div of values that depend on the model's inputs (only shape arithmetic, computable "
           "when the model is loaded, is supported)");
  const Tensor a = ctx.in(0), b = ctx.in(1);
  Tensor q = div(to(a, DType::Float64), to(b, DType::Float64));
  std::vector<double> v = q.to_vector<double>();
  for (double& e : v) {
    AG_CHECK(std::isfinite(e), "integer Div by zero");
    e = std::trunc(e);
  }
  return to(Tensor::from_vector<double>(v, q.sizes()), a.dtype());
}

// Before opset 7, binary ops broadcast only with broadcast=1, and `axis` aligns B's
// dims with A's from that axis on (B gets trailing unit dims here).
static Tensor legacy_broadcast(NodeContext& ctx, const Tensor& a, const Tensor& b) {
  if (ctx.opset >= 7 || ctx.attr_int("broadcast", 0) == 0 || !ctx.has_attr("axis")) return b;
  const int64_t axis = normalize_axis(ctx.attr_int("axis", 0), a.dim(), "axis");
  Shape sizes = b.sizes();
  while (static_cast<int64_t>(sizes.size()) + axis < a.dim()) sizes.push_back(1);
  return reshape(b, sizes);
}

TensorList convert_binary(NodeContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor b = legacy_broadcast(ctx, a, ctx.in(1));
  const std::string& op = ctx.node.op_type;
  if (op == "Add") return {add(a, b)};
  if (op == "Sub") return {sub(a, b)};
  if (op == "Mul") return {mul(a, b)};
  if (op == "Div") return {is_integral(a.dtype()) ? integer_divide(ctx) : div(a, b)};
  if (op == "Equal") return {eq(a, b)};
  if (op == "Greater") return {gt(a, b)};
  if (op == "Less") return {lt(a, b)};
  if (op == "GreaterOrEqual") return {ge(a, b)};
  if (op == "LessOrEqual") return {le(a, b)};
  if (op == "And") return {logical_and(a, b)};
  if (op == "Or") return {logical_not(logical_and(logical_not(a), logical_not(b)))};
  if (op == "Xor") return {ne(a, b)};
  AG_INTERNAL_CHECK(false, "convert_binary: no case for {}", op);
  return {};
}

TensorList convert_variadic(NodeContext& ctx) {
  const std::string& op = ctx.node.op_type;
  AG_CHECK(ctx.num_inputs() >= 1, "{} needs at least one input", op);
  Tensor acc = ctx.in(0);
  for (size_t i = 1; i < ctx.num_inputs(); ++i) {
    if (op == "Max") acc = maximum(acc, ctx.in(i));
    if (op == "Min") acc = minimum(acc, ctx.in(i));
    if (op == "Sum" || op == "Mean") acc = add(acc, ctx.in(i));
  }
  if (op == "Mean") acc = div(acc, static_cast<double>(ctx.num_inputs()));
  // One input: the op is the identity, but its output is a value of its own.
  if (ctx.num_inputs() == 1) acc = clone(acc);
  return {acc};
}

TensorList convert_pow(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor y = legacy_broadcast(ctx, x, ctx.in(1));
  // A constant exponent (x ** 2 as PyTorch exports it) stays a scalar, as in the
  // module's own graph: pow.Tensor_Scalar.
  if (ctx.is_static(1) && y.numel() == 1 && y.dim() <= x.dim()) {
    Scalar s = is_integral(y.dtype()) ? Scalar(y.to_vector<int64_t>()[0]) : Scalar(y.to_vector<double>()[0]);
    Tensor out = pow(x, s);
    return {y.dim() == x.dim() && y.dim() > 0 ? reshape(out, x.sizes()) : out};
  }
  // ONNX's result has the base's type; an integer power is computed in float64 and
  // converted back (exact for the integers it can represent).
  if (!x.is_floating_point()) return {to(pow(to(x, DType::Float64), to(y, DType::Float64)), x.dtype())};
  return {pow(x, y.dtype() == x.dtype() ? y : to(y, x.dtype()))};
}

TensorList convert_where(NodeContext& ctx) {
  return {where(ctx.in(0), ctx.in(1), ctx.in(2))};
}

TensorList convert_cast(NodeContext& ctx) {
  AG_CHECK(ctx.has_attr("to"), "Cast needs the attribute 'to'");
  DType target = ctx.dtype_from_elem_type(ctx.attr_int("to", 0), "Cast to");
  return {to(ctx.in(0), target)};
}

TensorList convert_cast_like(NodeContext& ctx) {
  return {to(ctx.in(0), ctx.in(1).dtype())};
}

TensorList convert_is_inf(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  const double inf = std::numeric_limits<double>::infinity();
  const bool pos = ctx.attr_int("detect_positive", 1) != 0, neg_ = ctx.attr_int("detect_negative", 1) != 0;
  Tensor p = pos ? eq(x, inf) : zeros_like(x, DType::Bool), n = neg_ ? eq(x, -inf) : zeros_like(x, DType::Bool);
  return {logical_not(logical_and(logical_not(p), logical_not(n)))};
}

TensorList convert_shrink(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  const double bias = ctx.attr_float("bias", 0.0), lambd = ctx.attr_float("lambd", 0.5);
  Tensor zero = zeros_like(x);
  return {where(lt(x, -lambd), add(x, bias), where(gt(x, lambd), sub(x, bias), zero))};
}

TensorList convert_clip(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (ctx.opset < 11) {
    std::optional<Scalar> lo, hi;
    if (ctx.has_attr("min")) lo = ctx.attr_float("min", 0);
    if (ctx.has_attr("max")) hi = ctx.attr_float("max", 0);
    if (!lo && !hi) return {clone(x)};
    return {clamp(x, lo, hi)};
  }
  // Static bounds become clamp's scalars; bounds computed by the model, tensors.
  auto bound = [&](size_t i) -> std::optional<Scalar> {
    if (!ctx.has(i) || !ctx.is_static(i)) return std::nullopt;
    const Tensor& t = ctx.in(i);
    AG_CHECK(t.numel() == 1, "Clip's bound (input {}) must have one element, got {}", i, t.describe());
    return is_integral(t.dtype()) ? Scalar(t.to_vector<int64_t>()[0]) : Scalar(t.to_vector<double>()[0]);
  };
  std::optional<Scalar> lo = bound(1), hi = bound(2);
  Tensor out = x;
  if (lo || hi) out = clamp(out, lo, hi);
  if (ctx.has(1) && !ctx.is_static(1)) out = maximum(out, ctx.in(1));
  if (ctx.has(2) && !ctx.is_static(2)) out = minimum(out, ctx.in(2));
  if (out.is_same(x)) out = clone(x);
  return {out};
}

// exp on the non-positive part only: the other branch of the where is not taken, but
// its gradient is still formed, and exp(large) * 0 would be NaN.
static Tensor expm1_negative(const Tensor& x, double scale_in) {
  return sub(exp(mul(clamp(x, std::nullopt, Scalar(0.0)), scale_in)), 1);
}

TensorList convert_activation(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  const std::string& op = ctx.node.op_type;
  if (op == "LeakyRelu") return {where(lt(x, 0), mul(x, ctx.attr_float("alpha", 0.01)), x)};
  if (op == "Elu") {
    const double alpha = ctx.attr_float("alpha", 1.0);
    return {where(lt(x, 0), mul(expm1_negative(x, 1.0), alpha), x)};
  }
  if (op == "Selu") {
    const double alpha = ctx.attr_float("alpha", 1.67326319217681884765625);
    const double gamma = ctx.attr_float("gamma", 1.05070102214813232421875);
    return {where(le(x, 0), mul(expm1_negative(x, 1.0), alpha * gamma), mul(x, gamma))};
  }
  if (op == "Celu") {
    const double alpha = ctx.attr_float("alpha", 1.0);
    return {where(lt(x, 0), mul(expm1_negative(x, 1.0 / alpha), alpha), x)};
  }
  if (op == "ThresholdedRelu") return {where(gt(x, ctx.attr_float("alpha", 1.0)), x, zeros_like(x))};
  if (op == "HardSigmoid") {
    Tensor lin = add(mul(x, ctx.attr_float("alpha", 0.2)), ctx.attr_float("beta", 0.5));
    return {clamp(lin, Scalar(0.0), Scalar(1.0))};
  }
  if (op == "HardSwish") return {mul(x, clamp(add(mul(x, 1.0 / 6.0), 0.5), Scalar(0.0), Scalar(1.0)))};
  AG_INTERNAL_CHECK(false, "convert_activation: no case for {}", op);
  return {};
}

TensorList convert_prelu(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  Tensor slope = ctx.in(1);
  // PRelu-6 reads a 1-D slope per channel (axis 1); from opset 7 it broadcasts as numpy does.
  if (ctx.opset < 7 && slope.dim() == 1 && x.dim() >= 2 && slope.size(0) == x.size(1) && slope.size(0) != 1) {
    Shape channel(static_cast<size_t>(x.dim() - 1), 1);
    channel[0] = slope.size(0);
    slope = reshape(slope, channel);
  }
  return {where(lt(x, 0), mul(x, slope), x)};
}

TensorList convert_identity(NodeContext& ctx) {
  return {ctx.in(0)};
}

TensorList convert_dropout(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  double ratio = 0.5;
  bool training = false;
  if (ctx.opset < 12) {
    ratio = ctx.attr_float("ratio", 0.5);
    // Before opset 7 is_test=0 asks for training; from 7 to 11 Dropout is the identity.
    training = ctx.opset < 7 && ctx.attr_int("is_test", 0) == 0 && ctx.module_training;
  } else {
    if (ctx.has(2)) training = ctx.scalar(2, "training_mode") != 0 && ctx.module_training;
    if (training && ctx.has(1)) ratio = ctx.scalar(1, "ratio");  // read only where it matters
  }
  if (training && ratio != 0)
    ctx.unsupported(
        "Dropout with ratio {} in training mode (random masks are not implemented; ratio 0 or "
        "training_mode false is the identity)",
        ratio);
  TensorList out{alias(x)};
  if (ctx.wants_output(1)) out.push_back(ones_like(x, DType::Bool));
  return out;
}

}  // namespace aotgrad::onnx_io
