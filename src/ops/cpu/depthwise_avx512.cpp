// Note [Depthwise rows in vectors]: a depthwise layer's output rows are short
// (MobileNet's maps shrink to 16, 8, 4, 2 columns), so the scalar kernel's row
// loops (Note [Depthwise convolutions] in conv.cpp) spend their time starting and
// ending. Here 16 outputs of a row are one vector: for each kernel tap its input
// elements are loaded as max pooling loads them (row_taps_avx512.h: a masked load,
// two and a permute for stride 2, a gather otherwise; lanes in the padding read 0)
// and multiplied into the accumulator with one FMA, taps in the scalar kernel's
// order (rows, then columns), starting from the bias.
#include "ops/cpu/depthwise_avx512.h"

#include <immintrin.h>

#include <vector>

#include "ops/cpu/cpu_features.h"
#include "ops/cpu/row_taps_avx512.h"

namespace aotgrad::ops::cpu {

namespace {

__attribute__((target("avx512f"))) void depthwise_plane(const DepthwiseSizes& g, const std::vector<row_taps::Tap>& taps,
                                                        const float* x, const float* w, float bias, float* y) {
  const __m512i lane_step = row_taps::lane_steps(g.sw);
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    const row_taps::Tap* tap = taps.data();
    for (int64_t ox0 = 0; ox0 < g.ow; ox0 += row_taps::kLanes, tap += g.kw) {
      __m512 acc = _mm512_set1_ps(bias);
      for (int64_t ki = 0; ki < g.kh; ++ki) {
        const int64_t iy = oy * g.sh - g.ph + ki * g.dh;
        if (iy < 0 || iy >= g.h) continue;
        const float* row = x + iy * g.w;
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          const row_taps::Tap& t = tap[kj];
          if (t.lanes == 0) continue;
          const __m512 v = row_taps::load_tap(row, t, g.sw, zero, lane_step);
          acc = _mm512_mask3_fmadd_ps(_mm512_set1_ps(w[ki * g.kw + kj]), v, acc, t.lanes);
        }
      }
      _mm512_mask_storeu_ps(y + oy * g.ow + ox0, row_taps::first_lanes(g.ow - ox0), acc);
    }
  }
}

}  // namespace

bool depthwise_forward_avx512(const DepthwiseSizes& g, int64_t p0, int64_t p1, const float* x, const float* w,
                              const float* bias, float* y) {
  if (!has_avx512() || g.sw * row_taps::kLanes >= (int64_t{1} << 31)) return false;
  const std::vector<row_taps::Tap> taps = row_taps::taps_of({g.w, g.ow, g.sw, g.pw, g.dw, g.kw});
  const int64_t per_channel = g.oc / g.c;
  for (int64_t plane = p0; plane < p1; ++plane) {
    const int64_t b = plane / g.oc, o = plane % g.oc;
    depthwise_plane(g, taps, x + (b * g.c + o / per_channel) * g.h * g.w, w + o * g.kh * g.kw, bias ? bias[o] : 0.0f,
                    y + plane * g.oh * g.ow);
  }
  return true;
}

}  // namespace aotgrad::ops::cpu
