// Float transcendental functions the compiler can vectorise (no libm calls), for
// the float32 paths of the hot kernels. Double paths keep libm: the float64
// finite-difference gradient checks need its accuracy, and nothing hot runs in
// double.
//
// Accuracy (checked against libm over their ranges in tests/ops/fast_math_test.cpp):
// exp within 2 ulp; erf within 3.5e-7 absolute and 7e-7 relative (about 10 ulp; the
// bound holds with and without FMA contraction, i.e. in the Release and the sanitizer builds).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace aotgrad::ops::cpu::fast {

[[gnu::always_inline]] inline float bits_to_float(int32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}

/// e^x: x = n ln2 + r with |r| <= ln2 / 2, e^r by a degree-6 polynomial (Cephes'
/// coefficients), 2^n written into the exponent bits.
[[gnu::always_inline]] inline float exp(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  // Written so that NaN clamps to -87.3 (every comparison with NaN is false): the
  // conversion to int below must see a finite value; NaN is returned at the end.
  const float xc = x > -87.3f ? (x < 88.7f ? x : 88.7f) : -87.3f;
  const float n = (xc * kLog2e + kRound) - kRound;
  float r = xc - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  const float z = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * z + r + 1.0f;
  const float scaled = p * bits_to_float((static_cast<int32_t>(n) + 127) << 23);
  // Outside the clamped range: underflow to 0, overflow to inf; NaN passes through.
  float out = x < -87.3f ? 0.0f : scaled;
  out = x > 88.7f ? INFINITY : out;
  return x != x ? x : out;
}
inline double exp(double x) {
  return std::exp(x);
}

/// erf: a Taylor polynomial in x^2 below |x| = 0.5; above, 1 - t P(t) e^{-x^2} with
/// t = 1 / (1 + p |x|) (Abramowitz & Stegun 7.1.26).
[[gnu::always_inline]] inline float erf(float x) {
  const float ax = x < 0 ? -x : x;
  const float z = x * x;
  // 2/sqrt(pi) (x - x^3/3 + x^5/10 - x^7/42 + x^9/216 - x^11/1320)
  float s = -1.0f / 1320;
  s = s * z + 1.0f / 216;
  s = s * z - 1.0f / 42;
  s = s * z + 1.0f / 10;
  s = s * z - 1.0f / 3;
  s = s * z + 1.0f;
  const float small = 1.1283791670955126f * x * s;
  const float t = 1.0f / (1.0f + 0.3275911f * ax);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float tail = 1.0f - p * t * exp(-z);
  const float large = x < 0 ? -tail : tail;
  return ax < 0.5f ? small : large;
}
inline double erf(double x) {
  return std::erf(x);
}

/// GELU (erf form) and its derivative, in T (float or double); the eager kernels and
/// the compiler's fused loops both compute them here.
template <typename T>
[[gnu::always_inline]] inline T gelu(T x) {
  return T(0.5) * x * (T(1) + fast::erf(x * T(M_SQRT1_2)));
}
template <typename T>
[[gnu::always_inline]] inline T gelu_grad(T x) {
  const T cdf = T(0.5) * (T(1) + fast::erf(x * T(M_SQRT1_2)));
  const T pdf = fast::exp(T(-0.5) * x * x) * T(M_2_SQRTPI * M_SQRT1_2 * 0.5);
  return cdf + x * pdf;
}

}  // namespace aotgrad::ops::cpu::fast
