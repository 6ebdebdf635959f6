// Lane masks for 16-float AVX-512 vectors, shared by the AVX-512 kernels (GEMM
// tiles, convolution row products, sliding-window rows).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace aotgrad::ops::cpu {

inline constexpr int kLanes = 16;

/// Bits [first, end) of a 16-bit mask.
inline __mmask16 bit_range(int64_t first, int64_t end) {
  const auto upto = [](int64_t k) { return k >= kLanes ? 0xFFFFu : (1u << k) - 1u; };
  return first >= end ? 0 : static_cast<__mmask16>(upto(end) & ~upto(first));
}

/// The first n of 16 lanes (none for n <= 0, all for n >= 16).
inline __mmask16 first_lanes(int64_t n) {
  return bit_range(0, n);
}

}  // namespace aotgrad::ops::cpu
