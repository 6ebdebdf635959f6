// Note [Vector max pool rows]: a max pool's output row is 16 outputs at a time, one
// per lane; for each window position (ki, kj) the lanes load their input element,
// and a lane takes it where it beats the lane's best so far. That is the scalar
// kernel's row loop (Note [Pool rows, not windows] in pool.cpp) with the strided
// load done in vector registers: stride 1 is one masked load, stride 2 two masked
// loads and a permute that keeps the even elements, other strides a gather. Lanes
// whose input column falls in the padding, or past the row's last output, are
// masked off, so they neither load nor take. The taking rule is the scalar one —
// greater, or NaN, or the lane's first valid element — so values and indices are
// bit for bit the scalar kernel's (tests/ops/max_pool_test.cpp checks them against
// a plain window scan). Indices are kept as 32-bit lanes and widened on the store.
#include "ops/cpu/max_pool_avx512.h"

#include <immintrin.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "ops/cpu/cpu_features.h"

namespace aotgrad::ops::cpu {

namespace {

constexpr int kLanes = 16;

// Lanes l in [0, n) whose input column (ox0 + l) * sw + shift lies in [0, w).
__mmask16 valid_lanes(int64_t ix0, int64_t sw, int64_t w, int64_t n) {
  const int64_t first = ix0 >= 0 ? 0 : (-ix0 + sw - 1) / sw;
  const int64_t last = ix0 > w - 1 ? -1 : std::min<int64_t>(n - 1, (w - 1 - ix0) / sw);
  if (first > last) return 0;
  const auto upto = [](int64_t k) { return k >= kLanes ? 0xFFFFu : (1u << k) - 1u; };
  return static_cast<__mmask16>(upto(last + 1) & ~upto(first));
}

// Bits e of [0, 16) with 0 <= ix + e < w: the elements a masked load may touch.
__mmask16 in_row(int64_t ix, int64_t w) {
  const int64_t first = std::clamp<int64_t>(-ix, 0, kLanes);
  const int64_t end = std::clamp<int64_t>(w - ix, 0, kLanes);
  if (first >= end) return 0;
  const auto upto = [](int64_t k) { return k >= kLanes ? 0xFFFFu : (1u << k) - 1u; };
  return static_cast<__mmask16>(upto(end) & ~upto(first));
}

__attribute__((target("avx512f"))) void store_row(float* y, int64_t* indices, __mmask16 out, __m512 best, __m512i arg) {
  _mm512_mask_storeu_ps(y, out, best);
  const __m512i lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(arg));
  const __m512i hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(arg, 1));
  _mm512_mask_storeu_epi64(indices, static_cast<__mmask8>(out & 0xFF), lo);
  _mm512_mask_storeu_epi64(indices + 8, static_cast<__mmask8>(out >> 8), hi);
}

// What a window column kj reads for the 16 outputs from ox0 on, the same in every
// row and plane: found once per call.
struct Tap {
  int64_t ix0;                        // the input column of the first lane
  __mmask16 lanes, load_lo, load_hi;  // valid lanes; elements the stride-2 loads touch
};

std::vector<Tap> taps_of(const PoolParams& p, const PlaneSizes& s) {
  std::vector<Tap> taps;
  for (int64_t ox0 = 0; ox0 < s.ow; ox0 += kLanes)
    for (int64_t kj = 0; kj < p.kw; ++kj) {
      const int64_t ix0 = ox0 * p.sw - p.pw + kj * p.dw;
      taps.push_back({ix0, valid_lanes(ix0, p.sw, s.w, std::min<int64_t>(kLanes, s.ow - ox0)), in_row(ix0, s.w),
                      in_row(ix0 + kLanes, s.w)});
    }
  return taps;
}

// The 16 elements row[ix0 + l * sw] of the tap's lanes (others -inf).
__attribute__((target("avx512f"))) __m512 load_tap(const float* row, const Tap& t, int64_t sw, __m512i lane_step) {
  const __m512 none = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  if (sw == 1) return _mm512_mask_loadu_ps(none, t.lanes, row + t.ix0);
  if (sw == 2) {
    const __m512 lo = _mm512_maskz_loadu_ps(t.load_lo, row + t.ix0);
    const __m512 hi = _mm512_maskz_loadu_ps(t.load_hi, row + t.ix0 + kLanes);
    const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_mask_mov_ps(none, t.lanes, _mm512_permutex2var_ps(lo, evens, hi));
  }
  return _mm512_mask_i32gather_ps(none, t.lanes, lane_step, row + t.ix0, 4);
}

__attribute__((target("avx512f"))) void max_pool_row(const PoolParams& p, const PlaneSizes& s,
                                                     const std::vector<Tap>& taps, const float* x, int64_t oy, float* y,
                                                     int64_t* indices) {
  const __m512i lane_step = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                               _mm512_set1_epi32(static_cast<int>(p.sw)));
  const Tap* tap = taps.data();
  for (int64_t ox0 = 0; ox0 < s.ow; ox0 += kLanes, tap += p.kw) {
    const int64_t n = std::min<int64_t>(kLanes, s.ow - ox0);
    __m512 best = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    __m512i arg = _mm512_set1_epi32(-1);
    for (int64_t ki = 0; ki < p.kh; ++ki) {
      const int64_t iy = oy * p.sh - p.ph + ki * p.dh;
      if (iy < 0 || iy >= s.h) continue;
      const float* row = x + iy * s.w;
      for (int64_t kj = 0; kj < p.kw; ++kj) {
        const Tap& t = tap[kj];
        if (t.lanes == 0) continue;
        const __m512 v = load_tap(row, t, p.sw, lane_step);
        const __mmask16 take = _mm512_mask_cmp_ps_mask(t.lanes, v, best, _CMP_GT_OQ) |
                               _mm512_mask_cmp_ps_mask(t.lanes, v, v, _CMP_UNORD_Q) |
                               _mm512_mask_cmpeq_epi32_mask(t.lanes, arg, _mm512_set1_epi32(-1));
        best = _mm512_mask_mov_ps(best, take, v);
        const __m512i at = _mm512_add_epi32(lane_step, _mm512_set1_epi32(static_cast<int>(iy * s.w + t.ix0)));
        arg = _mm512_mask_mov_epi32(arg, take, at);
      }
    }
    store_row(y + ox0, indices + ox0, static_cast<__mmask16>(n >= kLanes ? 0xFFFFu : (1u << n) - 1u), best, arg);
  }
}

}  // namespace

bool max_pool_planes_avx512(const PoolParams& p, const PlaneSizes& s, int64_t planes, const float* x, float* y,
                            int64_t* indices) {
  // Lane offsets (l * sw, iy * w + ix) are 32-bit.
  if (!has_avx512() || s.h * s.w >= (int64_t{1} << 31) || p.sw * kLanes >= (int64_t{1} << 31)) return false;
  const std::vector<Tap> taps = taps_of(p, s);
  for (int64_t q = 0; q < planes; ++q)
    for (int64_t oy = 0; oy < s.oh; ++oy) {
      const int64_t out = (q * s.oh + oy) * s.ow;
      max_pool_row(p, s, taps, x + q * s.h * s.w, oy, y + out, indices + out);
    }
  return true;
}

}  // namespace aotgrad::ops::cpu
