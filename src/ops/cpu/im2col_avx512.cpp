// Note [im2col rows in vectors]: each output row of an im2col row (one kernel tap
// (ci, ki, kj) for the outputs oy, ox = 0..ow) is the input row iy read from column
// ox*sw - pw + kj*dw on, with zeros where that leaves the row: 16 outputs are one
// masked load (stride 1), two and a permute (stride 2) or a gather, and one store —
// the loads max pooling and depthwise convolution already make (row_taps_avx512.h).
// Element by element, with a test for the padding on each, a first layer's stride-2
// rows (27 taps x 31 x 31 outputs an image) and a deep layer's rows of 3 cost more
// than their products.
#include "ops/cpu/im2col_avx512.h"

#include <immintrin.h>

#include <array>
#include <cstdint>
#include <vector>

#include "ops/cpu/cpu_features.h"
#include "ops/cpu/lanes_avx512.h"
#include "ops/cpu/row_taps_avx512.h"

namespace aotgrad::ops::cpu {

namespace {

// One output row of tap column kj from input row `src` (nullptr: the row lies in the
// padding), into dst[0, ow).
__attribute__((target("avx512f"), always_inline)) inline void tap_row(const float* src, const row_taps::Tap* taps,
                                                                      int64_t kw, int64_t kj, int64_t ow, int64_t sw,
                                                                      __m512i lane_step, float* dst) {
  const __m512 zero = _mm512_setzero_ps();
  int64_t ox0 = 0;
  for (const row_taps::Tap* t = taps + kj; ox0 < ow; ox0 += kLanes, t += kw) {
    const __m512 v = src == nullptr ? zero : row_taps::load_tap(src, *t, sw, zero, lane_step);
    if (ox0 + kLanes <= ow)
      _mm512_storeu_ps(dst + ox0, v);
    else
      _mm512_mask_storeu_ps(dst + ox0, first_lanes(ow - ox0), v);
  }
}

__attribute__((target("avx512f"))) void im2col_rows(const Im2colGeometry& g, const float* x, float* col, int64_t ld) {
  const std::vector<row_taps::Tap> taps = row_taps::taps_of({g.w, g.ow, g.sw, g.pw, g.dw, g.kw});
  const __m512i lane_step = row_taps::lane_steps(g.sw);
  for (int64_t ci = 0; ci < g.c; ++ci)
    for (int64_t ki = 0; ki < g.kh; ++ki)
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        float* row = col + ((ci * g.kh + ki) * g.kw + kj) * ld;
        const float* plane = x + ci * g.h * g.w;
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          const int64_t iy = oy * g.sh - g.ph + ki * g.dh;
          const float* src = iy >= 0 && iy < g.h ? plane + iy * g.w : nullptr;
          tap_row(src, taps.data(), g.kw, kj, g.ow, g.sw, lane_step, row + oy * g.ow);
        }
      }
}

// Note [Small maps in one vector]: a plane of at most 16 floats (a 3x3 or 4x4 map) is
// one vector, and each tap's row of at most 16 outputs is that vector permuted, the
// padding's lanes zeroed: one load a channel and a permute and a store a tap, where
// the rows of 3 or 4 outputs each cost a masked load and a masked store.
__attribute__((target("avx512f"))) void im2col_small_maps(const Im2colGeometry& g, const float* x, float* col,
                                                          int64_t ld) {
  const int64_t taps = g.kh * g.kw, outputs = g.oh * g.ow, plane = g.h * g.w;
  std::vector<std::array<int32_t, kLanes>> from(static_cast<size_t>(taps));
  std::vector<__mmask16> inside(static_cast<size_t>(taps), 0);
  for (int64_t ki = 0; ki < g.kh; ++ki)
    for (int64_t kj = 0; kj < g.kw; ++kj) {
      const auto t = static_cast<size_t>(ki * g.kw + kj);
      from[t].fill(0);
      for (int64_t p = 0; p < outputs; ++p) {
        const int64_t iy = p / g.ow * g.sh - g.ph + ki * g.dh, ix = p % g.ow * g.sw - g.pw + kj * g.dw;
        if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
        from[t][static_cast<size_t>(p)] = static_cast<int32_t>(iy * g.w + ix);
        inside[t] = static_cast<__mmask16>(inside[t] | (1u << p));
      }
    }
  const __mmask16 plane_lanes = first_lanes(plane), output_lanes = first_lanes(outputs);
  for (int64_t ci = 0; ci < g.c; ++ci) {
    const __m512 v = _mm512_maskz_loadu_ps(plane_lanes, x + ci * plane);
    for (int64_t t = 0; t < taps; ++t) {
      const __m512i lanes = _mm512_loadu_si512(from[static_cast<size_t>(t)].data());
      _mm512_mask_storeu_ps(col + (ci * taps + t) * ld, output_lanes,
                            _mm512_maskz_permutexvar_ps(inside[static_cast<size_t>(t)], lanes, v));
    }
  }
}

// Note [Maps shifted whole]: at stride 1 with the output rows as wide as the input's
// ('same' padding: ow == w), output position p = oy * ow + ox of tap (ki, kj) reads
// input position p + (ki * dh - ph) * w + kj * dw - pw: the tap's im2col row is the
// whole plane shifted, with the lanes whose input falls in the padding zeroed. So a
// row is a masked load and a store per 16 outputs, across the map's rows, the masks
// worked out once per tap; row by row, a 7x7 map took 7 masked loads and 7 masked
// stores of 7 floats each (squeezenet's 3x3 convolutions on 7x7 maps spent a quarter
// of their time in im2col).
bool maps_shift_whole(const Im2colGeometry& g) {
  return g.sh == 1 && g.sw == 1 && g.ow == g.w && g.w < 2 * kLanes;
}

__attribute__((target("avx512f"))) void im2col_shifted_maps(const Im2colGeometry& g, const float* x, float* col,
                                                            int64_t ld) {
  const int64_t taps = g.kh * g.kw, outputs = g.oh * g.ow, plane = g.h * g.w;
  const int64_t vectors = (outputs + kLanes - 1) / kLanes;
  std::vector<__mmask16> inside(static_cast<size_t>(taps * vectors), 0);
  std::vector<int64_t> shift(static_cast<size_t>(taps));
  for (int64_t ki = 0; ki < g.kh; ++ki)
    for (int64_t kj = 0; kj < g.kw; ++kj) {
      const int64_t t = ki * g.kw + kj;
      shift[static_cast<size_t>(t)] = (ki * g.dh - g.ph) * g.w + kj * g.dw - g.pw;
      // Row by row, not p / ow and p % ow: two divisions an output took as long as
      // the copy (a 7x7 map's table is made for every image).
      for (int64_t oy = 0, p = 0; oy < g.oh; ++oy) {
        const int64_t iy = oy - g.ph + ki * g.dh;
        for (int64_t ox = 0; ox < g.ow; ++ox, ++p) {
          const int64_t ix = ox - g.pw + kj * g.dw;
          if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
          __mmask16& m = inside[static_cast<size_t>(t * vectors + p / kLanes)];
          m = static_cast<__mmask16>(m | (1u << (p % kLanes)));
        }
      }
    }
  const __mmask16 last = first_lanes(outputs - (vectors - 1) * kLanes);
  for (int64_t ci = 0; ci < g.c; ++ci) {
    // Addresses as integers: a shifted row may start before the plane (its lanes
    // there are masked off and never read).
    const auto base = reinterpret_cast<uintptr_t>(x + ci * plane);
    for (int64_t t = 0; t < taps; ++t) {
      float* row = col + (ci * taps + t) * ld;
      const __mmask16* masks = inside.data() + t * vectors;
      const uintptr_t from = base + static_cast<uintptr_t>(shift[static_cast<size_t>(t)] * 4);
      for (int64_t v = 0; v < vectors; ++v) {
        const __m512 r = _mm512_maskz_loadu_ps(masks[v], reinterpret_cast<const float*>(from + v * kLanes * 4));
        if (v + 1 < vectors)
          _mm512_storeu_ps(row + v * kLanes, r);
        else
          _mm512_mask_storeu_ps(row + v * kLanes, last, r);
      }
    }
  }
}

}  // namespace

bool im2col_avx512(const Im2colGeometry& g, const float* x, float* col, int64_t ld) {
  if (!has_avx512()) return false;
  if (g.h * g.w <= kLanes && g.oh * g.ow <= kLanes)
    im2col_small_maps(g, x, col, ld);
  else if (maps_shift_whole(g))
    im2col_shifted_maps(g, x, col, ld);
  else
    im2col_rows(g, x, col, ld);
  return true;
}

}  // namespace aotgrad::ops::cpu
