// The per-element formulas of Note [One formula per elementwise op] (ops/elementwise.h),
// generic over the element type: the pointwise kernels instantiate them for every
// dtype, the fused loops for float. Integer add, sub and mul wrap (Note [Integers
// wrap]); a float formula computes in its own type, as PyTorch's CPU kernels do
// (their opmath type for float is float).
#pragma once

#include <cmath>
#include <type_traits>

#include "ops/cpu/fast_math.h"
#include "ops/elementwise.h"

namespace aotgrad::ops::cpu::formula {

template <typename T>
constexpr bool kWraps = std::is_integral_v<T> && !std::is_same_v<T, bool>;

template <typename T>
[[gnu::always_inline]] inline T wrapping_add(T x, T y) {
  if constexpr (kWraps<T>)
    return static_cast<T>(static_cast<std::make_unsigned_t<T>>(x) + static_cast<std::make_unsigned_t<T>>(y));
  else
    return static_cast<T>(x + y);
}
template <typename T>
[[gnu::always_inline]] inline T wrapping_sub(T x, T y) {
  if constexpr (kWraps<T>)
    return static_cast<T>(static_cast<std::make_unsigned_t<T>>(x) - static_cast<std::make_unsigned_t<T>>(y));
  else
    return static_cast<T>(x - y);
}
template <typename T>
[[gnu::always_inline]] inline T wrapping_mul(T x, T y) {
  if constexpr (kWraps<T>)
    return static_cast<T>(static_cast<std::make_unsigned_t<T>>(x) * static_cast<std::make_unsigned_t<T>>(y));
  else
    return static_cast<T>(x * y);
}

// Integer tensors compute in double (libm); float and double take cpu::fast::.
template <typename T>
[[gnu::always_inline]] inline T exp_of(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return fast::exp(v);
  else
    return static_cast<T>(std::exp(static_cast<double>(v)));
}
template <typename T>
using compute_t = std::conditional_t<std::is_floating_point_v<T>, T, double>;

/// One element of formula F: `x` and `y` (y unused by unary formulas) in T.
template <Formula F, typename T>
[[gnu::always_inline]] inline T apply(T x, [[maybe_unused]] T y, [[maybe_unused]] const FormulaParams& p) {
  if constexpr (F == Formula::Add)
    return wrapping_add(x, wrapping_mul(static_cast<T>(p.alpha), y));
  else if constexpr (F == Formula::Sub)
    return wrapping_sub(x, wrapping_mul(static_cast<T>(p.alpha), y));
  else if constexpr (F == Formula::Rsub)  // rsub(self=x, other=y): y - alpha * x
    return wrapping_sub(y, wrapping_mul(static_cast<T>(p.alpha), x));
  else if constexpr (F == Formula::Mul)
    return wrapping_mul(x, y);
  else if constexpr (F == Formula::Div)
    return static_cast<T>(x / y);
  else if constexpr (F == Formula::Pow)  // tensor exponents: std::pow, as PyTorch's pow_tensor_tensor kernel
    return static_cast<T>(std::pow(static_cast<compute_t<T>>(x), static_cast<compute_t<T>>(y)));
  else if constexpr (F == Formula::Identity)  // a change of dtype: the operand is already converted
    return x;
  else if constexpr (F == Formula::Neg)
    return static_cast<T>(-x);
  else if constexpr (F == Formula::Exp)
    return exp_of(x);
  else if constexpr (F == Formula::Relu)
    return x < 0 ? T(0) : x;  // not `x > 0 ? x : 0`: relu(NaN) is NaN, as in PyTorch
  else if constexpr (F == Formula::Sigmoid)
    return static_cast<T>(1 / (1 + exp_of(static_cast<T>(-x))));
  else if constexpr (F == Formula::Tanh)
    return static_cast<T>(std::tanh(x));
  else if constexpr (F == Formula::Sqrt)
    return static_cast<T>(std::sqrt(x));
  else if constexpr (F == Formula::Rsqrt)
    return static_cast<T>(1 / std::sqrt(x));
  else if constexpr (F == Formula::Reciprocal)
    return static_cast<T>(1 / x);
  else if constexpr (F == Formula::Square)
    return static_cast<T>(x * x);
  else if constexpr (F == Formula::Gelu)
    return static_cast<T>(fast::gelu(static_cast<compute_t<T>>(x)));
  else if constexpr (F == Formula::Clamp) {
    // NaN stays NaN (both compares are false). Floats compare in their own type (a
    // bound rounds to the nearest float, which no float lies strictly beyond), so the
    // loop stays a vector blend; integers compare in double (an infinite bound).
    if constexpr (std::is_floating_point_v<T>) {
      const T lo = static_cast<T>(p.lower), hi = static_cast<T>(p.upper);
      return x < lo ? lo : (x > hi ? hi : x);
    } else {
      const double v = static_cast<double>(x);
      return v < p.lower ? static_cast<T>(p.lower) : (v > p.upper ? static_cast<T>(p.upper) : x);
    }
  } else if constexpr (F == Formula::GeluBackward)
    return static_cast<T>(x * static_cast<T>(fast::gelu_grad(static_cast<compute_t<T>>(y))));
  else if constexpr (F == Formula::ThresholdBackward)
    // Compared in the tensor's own type, so the loop stays a branch-free vector blend.
    return y <= static_cast<T>(p.threshold) ? T(0) : x;
  else if constexpr (F == Formula::SigmoidBackward)
    return static_cast<T>(x * (1 - y) * y);
  else if constexpr (F == Formula::TanhBackward)
    return static_cast<T>(x * (1 - y * y));
  else
    static_assert(F != F, "a formula of AG_ELEMENTWISE_FORMULAS has no body here");
}

}  // namespace aotgrad::ops::cpu::formula
