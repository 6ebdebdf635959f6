// Float transcendental functions the compiler can vectorise (no libm calls), for
// the float32 paths of the hot kernels. Double paths keep libm: the float64
// finite-difference gradient checks need its accuracy, and nothing hot runs in
// double.
//
// Accuracy (checked against libm over their ranges in tests/ops/fast_math_test.cpp):
// exp within 2 ulp; erf within 4e-7 absolute and relative (about 7 ulp; the bound
// holds with and without FMA contraction, i.e. in the Release and the sanitizer builds).
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

/// erf: x P(x^2) / Q(x^2) with x clamped to [-4, 4] (beyond, erf is 1 to within
/// 1.6e-8), P and Q of degree 5, fitted by tools/math/fit_erf.py (2.5e-8 relative
/// error in exact arithmetic; what remains is float rounding, at most ~6 ulp near
/// |x| = 3.7), the result kept within [-1, 1]. One division and eleven multiply-adds:
/// half the time of the earlier erf (a Taylor series below 0.5 and Abramowitz &
/// Stegun 7.1.26 with an exp above, both computed for every lane), which had made
/// GELU the transformer's largest kernel after the products. NaN stays NaN: both
/// comparisons are false.
[[gnu::always_inline]] inline float erf(float x) {
  const float c = x > 4.0f ? 4.0f : (x < -4.0f ? -4.0f : x);
  const float z = c * c;
  float p = 1.986829225e-06f;
  p = p * z + 2.845568125e-04f;
  p = p * z + 3.882993859e-03f;
  p = p * z + 5.310066977e-02f;
  p = p * z + 1.935370619e-01f;
  p = p * z + 1.128379140e+00f;
  float q = 3.742018239e-05f;
  q = q * z + 1.185483781e-03f;
  q = q * z + 1.520655432e-02f;
  q = q * z + 1.153466748e-01f;
  q = q * z + 5.048503140e-01f;
  q = q * z + 1.0f;
  const float r = c * p / q;
  return r > 1.0f ? 1.0f : (r < -1.0f ? -1.0f : r);  // rounding can give 1 + 1 ulp near |x| = 4
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
