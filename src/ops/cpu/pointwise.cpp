// CPU kernels of the pointwise family.
#include <cmath>
#include <type_traits>

#include "ops/cpu/fast_math.h"
#include "ops/cpu/formulas.h"
#include "ops/cpu/loops.h"
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

namespace formula = cpu::formula;
using cpu::map1;
using cpu::map2;
using cpu::out0;

namespace {

// Note [One element, no machinery]: an op on single elements (the optimizer's
// per-parameter scalars: hundreds per training step) reads its operands as values of
// the output's dtype, converting exactly as the general path's cast does, and writes
// one value: no iteration setup and no temporary for a dtype conversion.
template <typename T>
bool one_value(const IValue& v, T& out) {
  if (v.is_scalar()) {
    const Scalar& s = v.to_scalar();
    out = s.is_integral() ? static_cast<T>(s.to_int()) : static_cast<T>(s.to_double());
    return true;
  }
  const Tensor& t = v.to_tensor();
  if (!t.defined() || t.is_meta() || t.numel() != 1) return false;
  const void* p = t.raw_data();
  switch (t.dtype()) {
    case DType::Float32:
      out = static_cast<T>(*static_cast<const float*>(p));
      return true;
    case DType::Float64:
      out = static_cast<T>(*static_cast<const double*>(p));
      return true;
    case DType::Int64:
      out = static_cast<T>(*static_cast<const int64_t*>(p));
      return true;
    case DType::Int32:
      out = static_cast<T>(*static_cast<const int32_t*>(p));
      return true;
    case DType::Bool:
      out = static_cast<T>(*static_cast<const bool*>(p));
      return true;
  }
  return false;
}

// out = f(x) computed in out's dtype.
template <typename F>
void unary(const Args& a, Outputs& o, F f) {
  Tensor& out = out0(o);
  cpu::visit_numeric(out.dtype(), "pointwise op", [&]<typename T>() {
    if (T x{}; out.numel() == 1 && one_value(a[0], x)) {
      *out.data_ptr<T>() = static_cast<T>(f(x));
      return;
    }
    Tensor x = a[0].to_tensor();
    if (x.dtype() != out.dtype()) x = cpu::as_contiguous(x, out.dtype());
    map1<T, T>(out, x, [&](T v) { return static_cast<T>(f(v)); });
  });
}

// out = f(a, b) computed in out's dtype (both operands converted to it).
template <typename F>
void binary(const Args& a, Outputs& o, F f) {
  Tensor& out = out0(o);
  cpu::visit_numeric(out.dtype(), "pointwise op", [&]<typename T>() {
    if (T x{}, y{}; out.numel() == 1 && one_value(a[0], x) && one_value(a[1], y)) {
      *out.data_ptr<T>() = static_cast<T>(f(x, y));
      return;
    }
    Tensor x = operand(a[0]), y = operand(a[1]);
    if (x.dtype() != out.dtype()) x = cpu::as_contiguous(x, out.dtype());
    if (y.dtype() != out.dtype()) y = cpu::as_contiguous(y, out.dtype());
    map2<T, T, T>(out, x, y, [&](T u, T v) { return static_cast<T>(f(u, v)); });
  });
}

// A comparison: inputs promoted to their common type, result bool.
template <typename F>
void compare(const Args& a, Outputs& o, F f) {
  Tensor& out = out0(o);
  DType ct = result_type(a[0], a[1]);
  visit_dtype(ct, [&]<typename T>() {
    Tensor x = operand(a[0]), y = operand(a[1]);
    if (x.dtype() != ct) x = cpu::as_contiguous(x, ct);
    if (y.dtype() != ct) y = cpu::as_contiguous(y, ct);
    map2<bool, T, T>(out, x, y, [&](T u, T v) { return f(u, v); });
  });
}

template <typename T>
[[gnu::always_inline]] inline T erf_of(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return cpu::fast::erf(v);
  else
    return static_cast<T>(std::erf(static_cast<double>(v)));
}

template <typename T>
[[gnu::always_inline]] inline T sgn_of(T v) {
  return static_cast<T>((T(0) < v) - (v < T(0)));
}

template <typename T>
[[gnu::always_inline]] inline T gelu_tanh(T x) {
  const double k = std::sqrt(2.0 / M_PI);
  return static_cast<T>(0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x))));
}
template <typename T>
[[gnu::always_inline]] inline T gelu_grad_tanh(T x) {
  const double k = std::sqrt(2.0 / M_PI), c = 0.044715;
  const double inner = k * (x + c * x * x * x);
  const double th = std::tanh(inner);
  return static_cast<T>(0.5 * (1 + th) + 0.5 * x * (1 - th * th) * k * (1 + 3 * c * x * x));
}

// pow with a scalar exponent (PyTorch's special cases) and with a tensor exponent.
void register_power_kernels(Registry& r) {
  r.kernel(OpId::pow_Tensor_Scalar, [](const Args& a, Outputs& o) {
    // PyTorch's special exponents (pow_tensor_scalar_optimized_kernel): they are exact
    // where std::pow is not, and they decide NaN/Inf results: pow(-inf, 0.5) is
    // sqrt(-inf) = NaN in PyTorch, where std::pow gives +inf.
    const double e = a[1].to_scalar().to_double();
    const bool floating = out0(o).is_floating_point();
    AG_CHECK(floating || e >= 0, "pow: integers to negative integer powers are not allowed (got exponent {})", e);
    if (e == 2)
      unary(a, o, [](auto x) { return formula::apply<Formula::Square>(x, x, {}); });
    else if (e == 3)
      unary(a, o, [](auto x) { return x * x * x; });
    else if (!floating)
      unary(a, o, [e](auto x) { return std::pow(static_cast<double>(x), e); });
    else if (e == 0.5)
      unary(a, o, [](auto x) { return std::sqrt(x); });
    else if (e == -0.5)
      unary(a, o, [](auto x) { return 1 / std::sqrt(x); });
    else if (e == -1)
      unary(a, o, [](auto x) { return 1 / x; });
    else if (e == -2)
      unary(a, o, [](auto x) { return 1 / (x * x); });
    else
      unary(a, o, [e](auto x) { return std::pow(static_cast<double>(x), e); });
  });
  // Tensor exponents (the optimizers' bias corrections, beta ** step): std::pow, as
  // PyTorch's pow_tensor_tensor kernel.
  r.kernel(OpId::pow_Tensor_Tensor, [](const Args& a, Outputs& o) {
    AG_CHECK(out0(o).is_floating_point(), "pow: tensor exponents need a floating-point result, but got {}",
             out0(o).describe());
    binary(a, o, [](auto x, auto y) { return formula::apply<Formula::Pow>(x, y, {}); });
  });
}
}  // namespace

namespace {
// Note [One formula per elementwise op]: op `id` computes formula F on every call; its
// kernel evaluates the formula, and the form it declares is what fusion reads.
template <Formula F>
void formula_op(Registry& r, OpId id, ElementwiseForm::ParamsFn params = no_params) {
  r.elementwise(id, {F, params});
  r.kernel(id, [id, params](const Args& a, Outputs& o) {
    FormulaParams p;
    AG_CHECK(params(a, p), "{}: the arguments are not those of its formula {}", op_info(id).qualified_name(),
             formula_name(F));
    auto run = [&a, &o](const FormulaParams& q) {
      if constexpr (formula_arity_v<F> == 1)
        unary(a, o, [q](auto x) { return formula::apply<F>(x, x, q); });
      else
        binary(a, o, [q](auto x, auto y) { return formula::apply<F>(x, y, q); });
    };
    if (p == FormulaParams{})
      run(FormulaParams{});  // the defaults as constants: `1 * y` folds away
    else
      run(p);
  });
}

bool gelu_none_at(const Args& a, size_t i) {
  return a.size() > i && a[i].is_string() && a[i].to_string() == "none";
}
}  // namespace

// add, sub, rsub and mul: integers wrap (Note [Integers wrap], ops/cpu/formulas.h).
static void register_arithmetic_kernels(Registry& r) {
  for (OpId id : {OpId::add_Tensor, OpId::add_Scalar}) formula_op<Formula::Add>(r, id, alpha_at_2);
  for (OpId id : {OpId::sub_Tensor, OpId::sub_Scalar}) formula_op<Formula::Sub>(r, id, alpha_at_2);
  formula_op<Formula::Rsub>(r, OpId::rsub_Scalar, alpha_at_2);
  for (OpId id : {OpId::mul_Tensor, OpId::mul_Scalar}) formula_op<Formula::Mul>(r, id);
  for (OpId id : {OpId::div_Tensor, OpId::div_Scalar}) formula_op<Formula::Div>(r, id);
}

// The formula-backed unary and backward ops.
static void register_formula_kernels(Registry& r) {
  formula_op<Formula::Neg>(r, OpId::neg);
  formula_op<Formula::Exp>(r, OpId::exp);
  formula_op<Formula::Tanh>(r, OpId::tanh);
  formula_op<Formula::Sigmoid>(r, OpId::sigmoid);
  formula_op<Formula::Sqrt>(r, OpId::sqrt);
  formula_op<Formula::Rsqrt>(r, OpId::rsqrt);
  formula_op<Formula::Reciprocal>(r, OpId::reciprocal);
  formula_op<Formula::Relu>(r, OpId::relu);
  formula_op<Formula::Clamp>(r, OpId::clamp, clamp_bounds);
  formula_op<Formula::ThresholdBackward>(r, OpId::threshold_backward, threshold_at_2);
  formula_op<Formula::SigmoidBackward>(r, OpId::sigmoid_backward);
  formula_op<Formula::TanhBackward>(r, OpId::tanh_backward);
  // Some calls only: gelu with approximate='none', pow with exponent 2.
  r.elementwise(OpId::gelu, {Formula::Gelu, [](const Args& a, FormulaParams&) { return gelu_none_at(a, 1); }});
  r.elementwise(OpId::gelu_backward,
                {Formula::GeluBackward, [](const Args& a, FormulaParams&) { return gelu_none_at(a, 2); }});
  r.elementwise(OpId::pow_Tensor_Tensor, {Formula::Pow, no_params});  // its kernel: register_power_kernels
  // A change of dtype is the identity computed in the result's dtype, which is what
  // _to_copy's kernel (copy_into's conversion, ops/cpu/factory.cpp) does.
  r.elementwise(OpId::_to_copy, {Formula::Identity, dtype_change_only});
  r.elementwise(OpId::pow_Tensor_Scalar, {Formula::Square, [](const Args& a, FormulaParams&) {
                                            return a.size() > 1 && a[1].is_scalar() &&
                                                   a[1].to_scalar().to_double() == 2;
                                          }});
}

namespace {
void masked_fill_kernel(const Args& a, Outputs& o) {
  Tensor& out = out0(o);
  const double fillv = a[2].to_scalar().to_double();
  visit_dtype(out.dtype(), [&]<typename T>() {
    const T f = static_cast<T>(fillv);
    // The mask read as bytes (a bool is one, 0 or 1): GCC 12 vectorises a select on
    // bytes, not on bools (it turns `m ? f : v` into a masked load it cannot
    // vectorise). With the flat loops over each repetition of the mask (map2), 8x
    // faster on the transformer block's [8, 4, 64, 64] scores (Zen 4).
    map2<T, T, uint8_t>(out, a[0].to_tensor(), a[1].to_tensor(), [f](T v, uint8_t m) { return m != 0 ? f : v; });
  });
}
}  // namespace

void register_pointwise_kernels(Registry& r) {
  register_power_kernels(r);
  r.kernel(OpId::abs, [](const Args& a, Outputs& o) { unary(a, o, [](auto v) { return v < 0 ? -v : v; }); });
  r.kernel(OpId::sgn, [](const Args& a, Outputs& o) { unary(a, o, [](auto v) { return sgn_of(v); }); });
  r.kernel(OpId::sign, [](const Args& a, Outputs& o) { unary(a, o, [](auto v) { return sgn_of(v); }); });
  r.kernel(OpId::log, [](const Args& a, Outputs& o) { unary(a, o, [](auto v) { return std::log(v); }); });
  r.kernel(OpId::sin, [](const Args& a, Outputs& o) { unary(a, o, [](auto v) { return std::sin(v); }); });
  r.kernel(OpId::cos, [](const Args& a, Outputs& o) { unary(a, o, [](auto v) { return std::cos(v); }); });
  r.kernel(OpId::erf, [](const Args& a, Outputs& o) { unary(a, o, [](auto v) { return erf_of(v); }); });
  r.kernel(OpId::gelu, [](const Args& a, Outputs& o) {
    if (a[1].to_string() == "tanh")
      unary(a, o, [](auto v) { return gelu_tanh(v); });
    else
      unary(a, o, [](auto v) { return formula::apply<Formula::Gelu>(v, v, {}); });
  });
  r.kernel(OpId::logical_not, [](const Args& a, Outputs& o) {
    visit_dtype(a[0].to_tensor().dtype(),
                [&]<typename T>() { map1<bool, T>(out0(o), a[0].to_tensor(), [](T v) { return v == T(0); }); });
  });
  r.kernel(OpId::gelu_backward, [](const Args& a, Outputs& o) {
    if (a[2].to_string() == "tanh")
      binary(a, o, [](auto g, auto x) { return g * gelu_grad_tanh(x); });
    else
      binary(a, o, [](auto g, auto x) { return formula::apply<Formula::GeluBackward>(g, x, {}); });
  });

  register_arithmetic_kernels(r);
  register_formula_kernels(r);
  r.kernel(OpId::maximum,
           [](const Args& a, Outputs& o) { binary(a, o, [](auto x, auto y) { return (x != x || x > y) ? x : y; }); });
  r.kernel(OpId::minimum,
           [](const Args& a, Outputs& o) { binary(a, o, [](auto x, auto y) { return (x != x || x < y) ? x : y; }); });
  auto eq = [](const Args& a, Outputs& o) { compare(a, o, [](auto x, auto y) { return x == y; }); };
  auto ne = [](const Args& a, Outputs& o) { compare(a, o, [](auto x, auto y) { return x != y; }); };
  auto gt = [](const Args& a, Outputs& o) { compare(a, o, [](auto x, auto y) { return x > y; }); };
  auto ge = [](const Args& a, Outputs& o) { compare(a, o, [](auto x, auto y) { return x >= y; }); };
  auto lt = [](const Args& a, Outputs& o) { compare(a, o, [](auto x, auto y) { return x < y; }); };
  auto le = [](const Args& a, Outputs& o) { compare(a, o, [](auto x, auto y) { return x <= y; }); };
  r.kernel(OpId::eq_Tensor, eq);
  r.kernel(OpId::eq_Scalar, eq);
  r.kernel(OpId::ne_Tensor, ne);
  r.kernel(OpId::ne_Scalar, ne);
  r.kernel(OpId::gt_Tensor, gt);
  r.kernel(OpId::gt_Scalar, gt);
  r.kernel(OpId::ge_Tensor, ge);
  r.kernel(OpId::ge_Scalar, ge);
  r.kernel(OpId::lt_Tensor, lt);
  r.kernel(OpId::lt_Scalar, lt);
  r.kernel(OpId::le_Tensor, le);
  r.kernel(OpId::le_Scalar, le);
  r.kernel(OpId::logical_and, [](const Args& a, Outputs& o) {
    Tensor x = cpu::as_contiguous(operand(a[0]), DType::Bool);
    Tensor y = cpu::as_contiguous(operand(a[1]), DType::Bool);
    map2<bool, bool, bool>(out0(o), x, y, [](bool u, bool v) { return u && v; });
  });
  r.kernel(OpId::where_self, [](const Args& a, Outputs& o) {
    Tensor& out = out0(o);
    visit_dtype(out.dtype(), [&]<typename T>() {
      Tensor x = cpu::as_contiguous(operand(a[1]), out.dtype());
      Tensor y = cpu::as_contiguous(operand(a[2]), out.dtype());
      cpu::map3<T, bool, T, T>(out, a[0].to_tensor(), x, y, [](bool c, T u, T v) { return c ? u : v; });
    });
  });
  r.kernel(OpId::masked_fill_Scalar, masked_fill_kernel);
}

}  // namespace aotgrad::ops
