// Sliding-window kernels (max pooling, depthwise convolution) over short rows, 16
// outputs per AVX-512 vector: what one window column reads for the 16 outputs of a
// row from ox0 on — the same in every row and plane — and the load of those
// elements (Note [Vector max pool rows] in max_pool_avx512.cpp).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "ops/cpu/lanes_avx512.h"

namespace aotgrad::ops::cpu::row_taps {

using cpu::bit_range;
using cpu::first_lanes;
using cpu::kLanes;

/// The row geometry: input width, output width, stride, padding, dilation, kernel width.
struct RowGeometry {
  int64_t w, ow, sw, pw, dw, kw;
};

/// Window column kj for the outputs [ox0, ox0 + 16): the input column of the first
/// lane, the lanes whose column lies inside the row, and (stride 2) the elements of
/// the two 16-wide loads that lie inside it.
struct Tap {
  int64_t ix0;
  __mmask16 lanes, load_lo, load_hi;
};

/// Taps for every 16 outputs of a row (outer) and kernel column (inner).
inline std::vector<Tap> taps_of(const RowGeometry& g) {
  std::vector<Tap> taps;
  for (int64_t ox0 = 0; ox0 < g.ow; ox0 += kLanes)
    for (int64_t kj = 0; kj < g.kw; ++kj) {
      const int64_t ix0 = ox0 * g.sw - g.pw + kj * g.dw;
      const int64_t n = std::min<int64_t>(kLanes, g.ow - ox0);
      // Lanes l < n with 0 <= ix0 + l * sw < w.
      const int64_t first = ix0 >= 0 ? 0 : (-ix0 + g.sw - 1) / g.sw;
      const int64_t last = ix0 > g.w - 1 ? -1 : std::min<int64_t>(n - 1, (g.w - 1 - ix0) / g.sw);
      auto inside = [&](int64_t at) {
        return bit_range(std::clamp<int64_t>(-at, 0, kLanes), std::clamp<int64_t>(g.w - at, 0, kLanes));
      };
      taps.push_back({ix0, bit_range(first, last + 1), inside(ix0), inside(ix0 + kLanes)});
    }
  return taps;
}

/// The elements row[t.ix0 + l * sw] of the tap's lanes, `fill` in the others: one
/// masked load (stride 1), two and a permute keeping the even elements (stride 2),
/// or a gather (`lane_step` = l * sw).
__attribute__((target("avx512f"))) inline __m512 load_tap(const float* row, const Tap& t, int64_t sw, __m512 fill,
                                                          __m512i lane_step) {
  if (sw == 1) return _mm512_mask_loadu_ps(fill, t.lanes, row + t.ix0);
  if (sw == 2) {
    const __m512 lo = _mm512_maskz_loadu_ps(t.load_lo, row + t.ix0);
    const __m512 hi = _mm512_maskz_loadu_ps(t.load_hi, row + t.ix0 + kLanes);
    const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_mask_mov_ps(fill, t.lanes, _mm512_permutex2var_ps(lo, evens, hi));
  }
  return _mm512_mask_i32gather_ps(fill, t.lanes, lane_step, row + t.ix0, 4);
}

/// How much of the row kernels' vectors a row of `ow` outputs fills (1: every lane).
/// The kernels that run 16 planes or channels per vector instead (Note [Depthwise
/// channels in vectors], Note [Max pool planes in vectors]) take over below it.
inline double row_fill(int64_t ow) {
  return static_cast<double>(ow) / static_cast<double>((ow + kLanes - 1) / kLanes * kLanes);
}

/// For the lambdas an AVX-512 kernel passes to for_each_window_tap (a lambda does not
/// take its enclosing function's target).
#define AG_AVX512 __attribute__((target("avx512f")))

/// A 2-d window over an h x w input: kernel, stride, padding, dilation.
struct Window2d {
  int64_t h, w, kh, kw, sh, sw, ph, pw, dh, dw;
};
/// Calls tap(iy, ix, ki, kj) for each position of output (oy, ox)'s window inside
/// the input, rows then columns (the order every sliding-window kernel here keeps).
template <typename F>
__attribute__((always_inline)) inline void for_each_window_tap(const Window2d& g, int64_t oy, int64_t ox, F&& tap) {
  for (int64_t ki = 0; ki < g.kh; ++ki) {
    const int64_t iy = oy * g.sh - g.ph + ki * g.dh;
    if (iy < 0 || iy >= g.h) continue;
    for (int64_t kj = 0; kj < g.kw; ++kj) {
      const int64_t ix = ox * g.sw - g.pw + kj * g.dw;
      if (ix >= 0 && ix < g.w) tap(iy, ix, ki, kj);
    }
  }
}

/// l * sw for every lane l.
__attribute__((target("avx512f"))) inline __m512i lane_steps(int64_t sw) {
  return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                            _mm512_set1_epi32(static_cast<int>(sw)));
}

}  // namespace aotgrad::ops::cpu::row_taps
