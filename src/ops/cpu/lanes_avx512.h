// Lane masks for 16-float AVX-512 vectors, shared by the AVX-512 kernels (GEMM
// tiles, convolution row products, sliding-window rows).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace aotgrad::ops::cpu {

inline constexpr int kLanes = 16;

/// Bits [first, end) of a 16-bit mask, the range cut to [0, 16).
inline __mmask16 bit_range(int64_t first, int64_t end) {
  const auto upto = [](int64_t k) { return k <= 0 ? 0u : k >= kLanes ? 0xFFFFu : (1u << k) - 1u; };
  return first >= end ? 0 : static_cast<__mmask16>(upto(end) & ~upto(first));
}

/// The first n of 16 lanes (none for n <= 0, all for n >= 16).
inline __mmask16 first_lanes(int64_t n) {
  return bit_range(0, n);
}

/// The sum of a vector's 16 lanes, halves folded onto halves. (Not
/// _mm512_reduce_add_ps, nor the unmasked shuffles: inlined into some loops, g++ 12
/// warns falsely that the _mm512_undefined_ps() they pass is read. The masked forms,
/// every lane taken, pass v instead.)
__attribute__((target("avx512f"), always_inline)) inline float lane_sum(__m512 v) {
  v = _mm512_add_ps(v, _mm512_mask_shuffle_f32x4(v, 0xFFFF, v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_mask_shuffle_f32x4(v, 0xFFFF, v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  v = _mm512_add_ps(v, _mm512_mask_permute_ps(v, 0xFFFF, v, _MM_SHUFFLE(1, 0, 3, 2)));
  v = _mm512_add_ps(v, _mm512_mask_permute_ps(v, 0xFFFF, v, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm512_cvtss_f32(v);
}

/// v, kept in a register. g++ folds a loaded vector into every FMA that reads it as a
/// memory operand, one load each: a vector of A against three of B becomes three
/// loads, and a kernel that reads one operand several times runs load-bound (Note
/// [Few rows against a transposed B] in sgemm_avx512.cpp). The empty asm says the value
/// may have changed, so the compiler must load it once and use the register.
__attribute__((target("avx512f"), always_inline)) inline __m512 in_register(__m512 v) {
  asm("" : "+v"(v));
  return v;
}

/// Whether all n floats at x are finite: x - x is 0 for a finite x and NaN for an
/// infinity or a NaN, and a NaN stays in a sum. Four sums, so that the adds' latencies
/// overlap (one sum was a chain 60 adds long on a 31 x 31 plane, 15% of a values-alone
/// max pool).
__attribute__((target("avx512f"))) inline bool all_finite(const float* x, int64_t n) {
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t i = 0;
  for (; i + 4 * kLanes <= n; i += 4 * kLanes)
    for (int k = 0; k < 4; ++k) {
      const __m512 v = _mm512_loadu_ps(x + i + k * kLanes);
      acc[k] = _mm512_add_ps(acc[k], _mm512_sub_ps(v, v));
    }
  for (; i + kLanes <= n; i += kLanes) {
    const __m512 v = _mm512_loadu_ps(x + i);
    acc[0] = _mm512_add_ps(acc[0], _mm512_sub_ps(v, v));
  }
  const __m512 v = _mm512_maskz_loadu_ps(first_lanes(n - i), x + i);
  acc[1] = _mm512_add_ps(acc[1], _mm512_sub_ps(v, v));
  const __m512 all = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
  return _mm512_cmp_ps_mask(all, all, _CMP_UNORD_Q) == 0;
}

/// A 16 x 16 block of floats transposed in registers: r[i] lane j becomes r[j] lane i.
/// (The masked forms, every lane taken: see lane_sum.)
__attribute__((target("avx512f"), always_inline)) inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_mask_unpacklo_ps(r[2 * i], 0xFFFF, r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_mask_unpackhi_ps(r[2 * i], 0xFFFF, r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    r[4 * i + 0] = _mm512_mask_shuffle_ps(t[4 * i + 0], 0xFFFF, t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 1] = _mm512_mask_shuffle_ps(t[4 * i + 0], 0xFFFF, t[4 * i + 0], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * i + 2] = _mm512_mask_shuffle_ps(t[4 * i + 1], 0xFFFF, t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * i + 3] = _mm512_mask_shuffle_ps(t[4 * i + 1], 0xFFFF, t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 2; ++i)
    for (int q = 0; q < 4; ++q) {
      t[8 * i + q] = _mm512_mask_shuffle_f32x4(r[8 * i + q], 0xFFFF, r[8 * i + q], r[8 * i + 4 + q], 0x88);
      t[8 * i + 4 + q] = _mm512_mask_shuffle_f32x4(r[8 * i + q], 0xFFFF, r[8 * i + q], r[8 * i + 4 + q], 0xDD);
    }
  for (int q = 0; q < 8; ++q) {
    r[q] = _mm512_mask_shuffle_f32x4(t[q], 0xFFFF, t[q], t[8 + q], 0x88);
    r[q + 8] = _mm512_mask_shuffle_f32x4(t[q], 0xFFFF, t[q], t[8 + q], 0xDD);
  }
}

}  // namespace aotgrad::ops::cpu
