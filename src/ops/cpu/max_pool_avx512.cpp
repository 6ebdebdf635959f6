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
#include <cstring>
#include <limits>
#include <vector>

#include "ops/cpu/cpu_features.h"
#include "ops/cpu/row_taps_avx512.h"
#include "ops/cpu/transpose_copy.h"

namespace aotgrad::ops::cpu {

namespace {

using row_taps::kLanes;
using row_taps::Tap;

__attribute__((target("avx512f"))) void store_row(float* y, int64_t* indices, __mmask16 out, __m512 best, __m512i arg) {
  _mm512_mask_storeu_ps(y, out, best);
  const __m512i lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(arg));
  const __m512i hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(arg, 1));
  _mm512_mask_storeu_epi64(indices, static_cast<__mmask8>(out & 0xFF), lo);
  _mm512_mask_storeu_epi64(indices + 8, static_cast<__mmask8>(out >> 8), hi);
}

// One output vector by the full taking rule: greater, or NaN, or the lane's first
// valid element (the rule every kernel here keeps).
__attribute__((target("avx512f"), noinline)) void max_pool_vector_exact(const PoolParams& p, const PlaneSizes& s,
                                                                        const Tap* tap, const float* x, int64_t oy,
                                                                        __m512& best, __m512i& arg) {
  const __m512i lane_step = row_taps::lane_steps(p.sw);
  const __m512 none = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  best = none;
  arg = _mm512_set1_epi32(-1);
  for (int64_t ki = 0; ki < p.kh; ++ki) {
    const int64_t iy = oy * p.sh - p.ph + ki * p.dh;
    if (iy < 0 || iy >= s.h) continue;
    for (int64_t kj = 0; kj < p.kw; ++kj) {
      const Tap& t = tap[kj];
      if (t.lanes == 0) continue;
      const __m512 v = row_taps::load_tap(x + iy * s.w, t, p.sw, none, lane_step);
      const __mmask16 take = _mm512_mask_cmp_ps_mask(t.lanes, v, best, _CMP_GT_OQ) |
                             _mm512_mask_cmp_ps_mask(t.lanes, v, v, _CMP_UNORD_Q) |
                             _mm512_mask_cmpeq_epi32_mask(t.lanes, arg, _mm512_set1_epi32(-1));
      best = _mm512_mask_mov_ps(best, take, v);
      arg = _mm512_mask_mov_epi32(arg, take, _mm512_add_epi32(lane_step, _mm512_set1_epi32(static_cast<int>(iy * s.w + t.ix0))));
    }
  }
}

// Note [Greater alone, then check]: the taking rule is three compares joined in mask
// registers, and mask logic is slow on the AMD cores this runs on (a window at 16
// lanes took 3x as long as with one compare). Where every element of a window is
// finite, "greater" alone gives the same answer: the first element beats -inf, a NaN
// never comes. So each vector is pooled by "greater" alone while a side sum of
// v - v (0 for a finite v, NaN for an infinity or a NaN) watches the elements; a
// vector whose sum is not 0 is pooled again by the full rule. The results are the
// full rule's, bit for bit.
//
// Note [Rows side by side]: a vector's nine window positions are nine compares and
// blends, each waiting for the one before (the running maximum): a chain of latency,
// not of work. So kRows output rows of the plane are carried together, each with its
// own maximum, and their chains overlap; every row still visits its window in the
// same (ki, kj) order.
constexpr int64_t kRows = 4;

template <int64_t R>
__attribute__((target("avx512f"))) void max_pool_rows(const PoolParams& p, const PlaneSizes& s,
                                                      const std::vector<Tap>& taps, const float* x, int64_t oy0,
                                                      float* y, int64_t* indices) {
  const __m512i lane_step = row_taps::lane_steps(p.sw);
  const __m512 none = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const Tap* tap = taps.data();
  for (int64_t ox0 = 0; ox0 < s.ow; ox0 += kLanes, tap += p.kw) {
    __m512 best[R], odd[R];
    __m512i arg[R];
    for (int64_t r = 0; r < R; ++r) best[r] = none, odd[r] = _mm512_setzero_ps(), arg[r] = _mm512_set1_epi32(-1);
    for (int64_t ki = 0; ki < p.kh; ++ki)
      for (int64_t kj = 0; kj < p.kw; ++kj) {
        const Tap& t = tap[kj];
        if (t.lanes == 0) continue;
#pragma GCC unroll 4
        for (int64_t r = 0; r < R; ++r) {
          const int64_t iy = (oy0 + r) * p.sh - p.ph + ki * p.dh;
          if (iy < 0 || iy >= s.h) continue;
          const __m512 v = row_taps::load_tap(x + iy * s.w, t, p.sw, none, lane_step);
          odd[r] = _mm512_add_ps(odd[r], _mm512_maskz_sub_ps(t.lanes, v, v));
          const __mmask16 take = _mm512_cmp_ps_mask(v, best[r], _CMP_GT_OQ);
          best[r] = _mm512_mask_mov_ps(best[r], take, v);
          const __m512i at = _mm512_add_epi32(lane_step, _mm512_set1_epi32(static_cast<int>(iy * s.w + t.ix0)));
          arg[r] = _mm512_mask_mov_epi32(arg[r], take, at);
        }
      }
    const __mmask16 out = row_taps::first_lanes(std::min<int64_t>(kLanes, s.ow - ox0));
    for (int64_t r = 0; r < R; ++r) {
      if (_mm512_cmp_ps_mask(odd[r], odd[r], _CMP_UNORD_Q) != 0)
        max_pool_vector_exact(p, s, tap, x, oy0 + r, best[r], arg[r]);
      store_row(y + r * s.ow + ox0, indices + r * s.ow + ox0, out, best[r], arg[r]);
    }
  }
}

}  // namespace

bool max_pool_planes_avx512(const PoolParams& p, const PlaneSizes& s, int64_t planes, const float* x, float* y,
                            int64_t* indices) {
  // Lane offsets (l * sw, iy * w + ix) are 32-bit.
  if (!has_avx512() || s.h * s.w >= (int64_t{1} << 31) || p.sw * kLanes >= (int64_t{1} << 31)) return false;
  const std::vector<Tap> taps = row_taps::taps_of({s.w, s.ow, p.sw, p.pw, p.dw, p.kw});
  for (int64_t q = 0; q < planes; ++q) {
    const float* plane = x + q * s.h * s.w;
    int64_t oy = 0;
    for (; oy + kRows <= s.oh; oy += kRows) {
      const int64_t out = (q * s.oh + oy) * s.ow;
      max_pool_rows<kRows>(p, s, taps, plane, oy, y + out, indices + out);
    }
    for (; oy < s.oh; ++oy) {
      const int64_t out = (q * s.oh + oy) * s.ow;
      max_pool_rows<1>(p, s, taps, plane, oy, y + out, indices + out);
    }
  }
  return true;
}

// Note [Max pool planes in vectors]: SqueezeNet pools rows of 15, 7 and 3 outputs,
// a third of a vector on average, with a masked load and a permute per lane group.
// Where rows are that short and the planes many, a chunk of planes is transposed to
// [h * w, planes] and the 16 planes of one output position are one vector: each
// window position is a plain load, taken by the scalar rule (greater, NaN, or the
// first valid element) lane by lane, with the position's index the same for every
// lane. Values and indices are transposed back (the indices as 32-bit lanes, then
// widened). The window order is the row kernel's, so are the results.
namespace {
constexpr int64_t kPlaneChunk = 64;

bool across_planes_pay(const PlaneSizes& s, int64_t planes) {
  return planes >= kLanes && row_taps::row_fill(s.ow) < 0.8;
}

// One chunk: xt [h * w, pc] in, yt [oh * ow, pc] and at [oh * ow, pc] (32-bit
// indices, stored in a float buffer for the transposes) out; pc a multiple of 16.
__attribute__((target("avx512f"))) void max_pool_chunk(const PoolParams& p, const PlaneSizes& s, int64_t pc,
                                                       const float* xt, float* yt, float* at) {
  const __m512 none = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const __m512i unset = _mm512_set1_epi32(-1);
  const row_taps::Window2d window{s.h, s.w, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.dh, p.dw};
  for (int64_t oy = 0; oy < s.oh; ++oy)
    for (int64_t ox = 0; ox < s.ow; ++ox)
      for (int64_t c0 = 0; c0 < pc; c0 += kLanes) {
        __m512 best = none;
        __m512i arg = unset;
        row_taps::for_each_window_tap(window, oy, ox, [&](int64_t iy, int64_t ix, int64_t, int64_t) AG_AVX512 {
          const __m512 v = _mm512_loadu_ps(xt + (iy * s.w + ix) * pc + c0);
          const __mmask16 take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) |
                                 _mm512_cmpeq_epi32_mask(arg, unset);
          best = _mm512_mask_mov_ps(best, take, v);
          arg = _mm512_mask_mov_epi32(arg, take, _mm512_set1_epi32(static_cast<int>(iy * s.w + ix)));
        });
        const int64_t o = (oy * s.ow + ox) * pc + c0;
        _mm512_storeu_ps(yt + o, best);
        _mm512_storeu_si512(at + o, arg);
      }
}
}  // namespace

bool max_pool_across_planes_avx512(const PoolParams& p, const PlaneSizes& s, int64_t planes, const float* x, float* y,
                                   int64_t* indices) {
  if (!has_avx512() || s.h * s.w >= (int64_t{1} << 31) || !across_planes_pay(s, planes)) return false;
  const int64_t in = s.h * s.w, out = s.oh * s.ow;
  std::vector<float> xt(static_cast<size_t>(in * kPlaneChunk), 0.0f), yt(static_cast<size_t>(out * kPlaneChunk)),
      at(static_cast<size_t>(out * kPlaneChunk)), back(static_cast<size_t>(out * kPlaneChunk));
  for (int64_t q0 = 0; q0 < planes; q0 += kPlaneChunk) {
    const int64_t pc = std::min(kPlaneChunk, planes - q0), padded = (pc + kLanes - 1) / kLanes * kLanes;
    transpose_block(x + q0 * in, in, xt.data(), padded, in, pc);  // xt[i][q] = x[q0 + q][i]
    max_pool_chunk(p, s, padded, xt.data(), yt.data(), at.data());
    transpose_block(yt.data(), padded, y + q0 * out, out, pc, out);
    transpose_block(at.data(), padded, back.data(), out, pc, out);  // 32-bit indices, moved as they are
    for (int64_t k = 0; k < pc * out; ++k) {
      int32_t index;
      std::memcpy(&index, &back[static_cast<size_t>(k)], sizeof index);
      indices[q0 * out + k] = index;
    }
  }
  return true;
}

}  // namespace aotgrad::ops::cpu
