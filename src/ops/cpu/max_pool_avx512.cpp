// Note [Vector max pool rows]: a max pool's output row is 16 outputs at a time, one
// per lane; for each window position (ki, kj) the lanes load their input element,
// and a lane takes it where it beats the lane's best so far. That is the scalar
// kernel's row loop (Note [Pool rows, not windows] in pool.cpp) with the strided
// load done in vector registers: stride 1 is one masked load, stride 2 two masked
// loads and a permute that keeps the even elements, other strides a gather. Lanes
// whose input column falls in the padding, or past the row's last output, are
// masked off, so they neither load nor take. The taking rule is the scalar one —
// greater, or NaN, or the lane's first valid element (on a finite plane, greater
// alone: Note [Greater alone on finite planes]) — so values and indices are
// bit for bit the scalar kernel's (tests/ops/max_pool_test.cpp checks them against
// a plain window scan). Indices are kept as 32-bit lanes and widened on the store.
#include "ops/cpu/max_pool_avx512.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include "ops/cpu/cpu_features.h"
#include "ops/cpu/lanes_avx512.h"
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

// Note [Values alone]: where nothing reads the indices (inference: the compiled
// program gives the kernel none, OpTag::LastOutputOptional), a finite plane's window
// maximum is taken by max instructions alone, rows before columns (Note [Separable
// windows]): no compare, blend or index arithmetic. A plane with an infinity or NaN
// still takes the full rule (a NaN must win, which max does not promise), its indices
// computed and dropped.
//
// Note [Greater alone on finite planes]: the taking rule is three compares joined in
// mask registers, and mask logic is slow on the AMD cores this runs on (a 3x3 window
// at 16 lanes took twice as long as with one compare, and any extra operation per
// window position cost as much again). Where every element of a plane is finite,
// "greater" alone gives the same answer: the first valid element beats the initial
// -inf, and no NaN comes. So each plane is first checked, one pass of x - x over its
// elements (0 when finite, NaN for an infinity or a NaN), and pooled by "greater"
// alone when it passes, by the full rule when it does not. Both give the full rule's
// results, bit for bit (all_finite, lanes_avx512.h).

// Note [Rows side by side]: a vector's window positions are compares and blends, each
// waiting for the one before (the running maximum): a chain of latency, not of work.
// So kRows output rows of the plane are carried together, each with its own maximum,
// and their chains overlap; every row still visits its window in the same (ki, kj)
// order.
constexpr int64_t kRows = 4;

// The tap's 16 elements of `row` for a stride known at compile time (0: any).
template <int64_t kStride>
__attribute__((target("avx512f"), always_inline)) inline __m512 load_tap_at(const float* row, const Tap& t, int64_t sw,
                                                                            __m512 none, __m512i lane_step) {
  return row_taps::load_tap(row, t, kStride == 0 ? sw : kStride, none, lane_step);
}

template <bool kFullRule, int64_t R, int64_t kStride>
__attribute__((target("avx512f"))) void max_pool_rows(const PoolParams& p, const PlaneSizes& s,
                                                      const std::vector<Tap>& taps, const float* x, int64_t oy0,
                                                      float* y, int64_t* indices) {
  // Locals, not p.* and s.*: the compiler would reload them after every store.
  const int64_t h = s.h, w = s.w, ow = s.ow, kh = p.kh, kw = p.kw, sh = p.sh, ph = p.ph, dh = p.dh, sw = p.sw;
  const __m512i lane_step = row_taps::lane_steps(sw);
  const __m512 none = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const __m512i unset = _mm512_set1_epi32(-1);
  const Tap* tap = taps.data();
  for (int64_t ox0 = 0; ox0 < ow; ox0 += kLanes, tap += kw) {
    __m512 best[R];
    __m512i arg[R];
    for (int64_t r = 0; r < R; ++r) best[r] = none, arg[r] = unset;
    for (int64_t ki = 0; ki < kh; ++ki) {
      const float* row[R];
      int iy_w[R];
      bool inside[R];
      for (int64_t r = 0; r < R; ++r) {
        const int64_t iy = (oy0 + r) * sh - ph + ki * dh;
        inside[r] = iy >= 0 && iy < h;
        row[r] = inside[r] ? x + iy * w : x;  // no pointer outside the plane, even unused
        iy_w[r] = static_cast<int>(iy * w);
      }
      for (int64_t kj = 0; kj < kw; ++kj) {
        const Tap& t = tap[kj];
        if (t.lanes == 0) continue;
#pragma GCC unroll 4
        for (int64_t r = 0; r < R; ++r) {
          if (!inside[r]) continue;
          const __m512 v = load_tap_at<kStride>(row[r], t, sw, none, lane_step);
          __mmask16 take;
          if constexpr (kFullRule)
            take = _mm512_mask_cmp_ps_mask(t.lanes, v, best[r], _CMP_GT_OQ) |
                   _mm512_mask_cmp_ps_mask(t.lanes, v, v, _CMP_UNORD_Q) |
                   _mm512_mask_cmpeq_epi32_mask(t.lanes, arg[r], unset);
          else  // the lanes outside the row hold -inf: never greater
            take = _mm512_cmp_ps_mask(v, best[r], _CMP_GT_OQ);
          best[r] = _mm512_mask_mov_ps(best[r], take, v);
          const __m512i at = _mm512_add_epi32(lane_step, _mm512_set1_epi32(iy_w[r] + static_cast<int>(t.ix0)));
          arg[r] = _mm512_mask_mov_epi32(arg[r], take, at);
        }
      }
    }
    const __mmask16 out = row_taps::first_lanes(std::min<int64_t>(kLanes, ow - ox0));
    for (int64_t r = 0; r < R; ++r) store_row(y + r * ow + ox0, indices + r * ow + ox0, out, best[r], arg[r]);
  }
}

// Note [Separable windows]: with the values alone on a finite plane, a window's
// maximum is the maximum over its columns of each column's maximum over the
// window's rows, and max is exact in any order. So the plane's output rows first take
// the maximum of their kh input rows (whole vectors along the input rows), then pool
// those rows with a window one row high: per 16 outputs of a 3x3 window at stride 2,
// 3 row maxima and 3 strided loads, where the window positions one by one took 9.
// The rows of maxima sit between margins of -inf (`SeparableRows`), so their loads
// need no masks, which are slow on AMD cores: window columns in the padding read
// -inf. All rows are maximised before any is pooled: a pooling load straddling the
// vectors just stored would wait for them to reach the cache (no store forwarding),
// and with one row at a time that wait was most of the time. SqueezeNet's first pool
// (8 x 64 planes of 31 x 31, 3x3, stride 2; Zen 5, 1 thread): 170 -> 105 us alone,
// 0.15 -> 0.13 ms in the compiled model.
struct SeparableRows {
  static constexpr int64_t kMargin = 2 * kLanes;  // -inf before column 0: covers any padding it takes
  static constexpr int64_t kMaxRows = 16;         // window rows
  static bool applies(const PoolParams& p) { return p.pw <= kMargin && p.kh <= kMaxRows; }

  std::vector<float> buffer;
  int64_t w_vectors = 0;  // whole vectors of an input row
  int64_t stride = 0;     // floats from one row of maxima to the next

  SeparableRows(const PoolParams& p, const PlaneSizes& s) : w_vectors((s.w + kLanes - 1) / kLanes) {
    // Right of a row: what the last 16 outputs' taps read (two vectors at stride 2).
    const int64_t reach = ((s.ow + kLanes - 1) / kLanes * kLanes) * p.sw + (p.kw - 1) * p.dw + 2 * kLanes;
    stride = kMargin + std::max(w_vectors * kLanes, reach);
    buffer.assign(static_cast<size_t>(s.oh * stride), -std::numeric_limits<float>::infinity());
  }
  float* row(int64_t oy) { return buffer.data() + oy * stride + kMargin; }
};

// Each output row's maximum over its window rows, column by column.
__attribute__((target("avx512f"))) void max_over_window_rows(const PoolParams& p, const PlaneSizes& s, const float* x,
                                                             SeparableRows& rows) {
  const __m512 none = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const int64_t last = rows.w_vectors - 1;
  const __mmask16 tail = row_taps::first_lanes(s.w - last * kLanes);  // its lanes past w keep -inf
  for (int64_t oy = 0; oy < s.oh; ++oy) {
    const float* in[SeparableRows::kMaxRows];  // the window's rows inside the plane
    int64_t n = 0;
    for (int64_t ki = 0; ki < p.kh; ++ki) {
      const int64_t iy = oy * p.sh - p.ph + ki * p.dh;
      if (iy >= 0 && iy < s.h) in[n++] = x + iy * s.w;
    }
    float* out = rows.row(oy);
    for (int64_t v = 0; v <= last; ++v) {
      __m512 m = none;  // no row inside: a window wholly in the padding pools to -inf
      for (int64_t r = 0; r < n; ++r)
        m = _mm512_max_ps(
            m, v < last ? _mm512_loadu_ps(in[r] + v * kLanes) : _mm512_mask_loadu_ps(none, tail, in[r] + v * kLanes));
      _mm512_storeu_ps(out + v * kLanes, m);
    }
  }
}

template <int64_t kStride>
__attribute__((target("avx512f"))) void max_pool_plane_separable(const PoolParams& p, const PlaneSizes& s,
                                                                 const std::vector<Tap>& taps, const float* x, float* y,
                                                                 SeparableRows& rows) {
  max_over_window_rows(p, s, x, rows);
  const int64_t ow = s.ow, kw = p.kw, sw = p.sw;
  const __m512i lane_step = row_taps::lane_steps(sw);
  const __m512 none = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (int64_t oy = 0; oy < s.oh; ++oy) {
    const float* cm = rows.row(oy);
    const Tap* tap = taps.data();
    for (int64_t ox0 = 0; ox0 < ow; ox0 += kLanes, tap += kw) {
      __m512 best = none;
      for (int64_t kj = 0; kj < kw; ++kj) {
        const float* at = cm + tap[kj].ix0;
        if constexpr (kStride == 1)
          best = _mm512_max_ps(best, _mm512_loadu_ps(at));
        else if constexpr (kStride == 2)
          best = _mm512_max_ps(best, _mm512_permutex2var_ps(_mm512_loadu_ps(at), evens, _mm512_loadu_ps(at + kLanes)));
        else if (tap[kj].lanes != 0)
          best = _mm512_max_ps(best, row_taps::load_tap(cm, tap[kj], sw, none, lane_step));
      }
      float* out = y + oy * ow + ox0;
      if (ow - ox0 >= kLanes)
        _mm512_storeu_ps(out, best);
      else
        _mm512_mask_storeu_ps(out, row_taps::first_lanes(ow - ox0), best);
    }
  }
}

// Note [Narrow planes in registers]: the commonest pool, 3x3 at stride 2, on planes
// at most 32 columns wide (padding included) with at most 15 outputs a row: each
// output row's three input rows are two vectors each, maximised in registers, and
// the window's columns come out of those two vectors by three permutes (even, odd and
// the next even columns) — no row of maxima stored and loaded back, no loop over taps.
// Columns outside the plane load as -inf (masked off), rows outside it are skipped.
// Values alone, on a finite plane, as the separable path: the same maxima; the
// finiteness check is folded into the loads. A plane of at most 16 columns is one
// vector a row. SqueezeNet's pools (8 x 64 planes of 31 x 31, 8 x 128 of 15 x 15;
// its 8 x 256 of 7 x 7 go across planes: max_pool_across_planes_avx512).
bool narrow_3x3_stride_2(const PoolParams& p, const PlaneSizes& s) {
  return p.kh == 3 && p.kw == 3 && p.sh == 2 && p.sw == 2 && p.dh == 1 && p.dw == 1 && p.pw <= 1 &&
         s.w + p.pw <= 2 * kLanes && 2 * (s.ow - 1) + 2 < 2 * kLanes && s.ow < kLanes;
}

// The plane pooled in registers, kVectors vectors a row (one when the plane and its
// windows fit 16 lanes: 15 x 15 maps). Returns false, with y half written, where an
// element it read is not finite (x - x is NaN there: Note [Greater alone on finite
// planes]); the caller then takes the full rule. The check rides on the loads the
// pool makes anyway, instead of a pass of its own over the plane before (a fifth of
// the pool's time on 15 x 15 planes).
template <int kVectors>
__attribute__((target("avx512f"))) bool max_pool_plane_narrow(const PoolParams& p, const PlaneSizes& s, const float* x,
                                                              float* y) {
  const __m512 none = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  // Vector lane l of half v holds column 16 v + l - pw.
  const __mmask32 inside = static_cast<__mmask32>(((uint64_t{1} << s.w) - 1) << p.pw);
  const __mmask16 lo = static_cast<__mmask16>(inside), hi = static_cast<__mmask16>(inside >> 16);
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odds = _mm512_add_epi32(evens, _mm512_set1_epi32(1));
  const __m512i next = _mm512_setr_epi32(2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 0);
  const __mmask16 out = row_taps::first_lanes(s.ow);
  __m512 seen = _mm512_setzero_ps();  // sums of x - x over the lanes read
  for (int64_t oy = 0; oy < s.oh; ++oy) {
    __m512 v0 = none, v1 = none;
    for (int64_t ki = 0; ki < 3; ++ki) {
      const int64_t iy = oy * 2 - p.ph + ki;
      if (iy < 0 || iy >= s.h) continue;
      const float* row = x + iy * s.w - p.pw;  // lanes before column 0 are masked off
      const __m512 r0 = _mm512_mask_loadu_ps(none, lo, row);
      v0 = _mm512_max_ps(v0, r0);
      seen = _mm512_add_ps(seen, _mm512_maskz_sub_ps(lo, r0, r0));
      if constexpr (kVectors == 2) {
        const __m512 r1 = _mm512_mask_loadu_ps(none, hi, row + kLanes);
        v1 = _mm512_max_ps(v1, r1);
        seen = _mm512_add_ps(seen, _mm512_maskz_sub_ps(hi, r1, r1));
      }
    }
    // With one vector, indices 16 and up (lanes past ow) read v1's -inf.
    const __m512 m =
        _mm512_max_ps(_mm512_max_ps(_mm512_permutex2var_ps(v0, evens, v1), _mm512_permutex2var_ps(v0, odds, v1)),
                      _mm512_permutex2var_ps(v0, next, v1));
    _mm512_mask_storeu_ps(y + oy * s.ow, out, m);
  }
  return _mm512_cmp_ps_mask(seen, seen, _CMP_UNORD_Q) == 0;
}

// Note [Narrow planes in registers], one vector a row where the plane fits one.
bool max_pool_plane_narrow(const PoolParams& p, const PlaneSizes& s, const float* x, float* y) {
  if (s.w + p.pw <= kLanes && 2 * (s.ow - 1) + 2 < kLanes) return max_pool_plane_narrow<1>(p, s, x, y);
  return max_pool_plane_narrow<2>(p, s, x, y);
}

void max_pool_plane_separable(const PoolParams& p, const PlaneSizes& s, const std::vector<Tap>& taps, const float* x,
                              float* y, SeparableRows& rows) {
  if (p.sw == 1) return max_pool_plane_separable<1>(p, s, taps, x, y, rows);
  if (p.sw == 2) return max_pool_plane_separable<2>(p, s, taps, x, y, rows);
  max_pool_plane_separable<0>(p, s, taps, x, y, rows);
}

template <bool kFullRule, int64_t kStride>
void max_pool_plane(const PoolParams& p, const PlaneSizes& s, const std::vector<Tap>& taps, const float* x, float* y,
                    int64_t* indices) {
  int64_t oy = 0;
  for (; oy + kRows <= s.oh; oy += kRows)
    max_pool_rows<kFullRule, kRows, kStride>(p, s, taps, x, oy, y + oy * s.ow, indices + oy * s.ow);
  // The last rows together too: one row alone waits out its whole chain.
  float* y_rest = y + oy * s.ow;
  int64_t* indices_rest = indices + oy * s.ow;
  switch (s.oh - oy) {
    case 3:
      return max_pool_rows<kFullRule, 3, kStride>(p, s, taps, x, oy, y_rest, indices_rest);
    case 2:
      return max_pool_rows<kFullRule, 2, kStride>(p, s, taps, x, oy, y_rest, indices_rest);
    case 1:
      return max_pool_rows<kFullRule, 1, kStride>(p, s, taps, x, oy, y_rest, indices_rest);
    default:
      return;
  }
}

// Strides 1 and 2 (the common ones, each its own load) compiled apart from the rest.
template <bool kFullRule>
void max_pool_plane(const PoolParams& p, const PlaneSizes& s, const std::vector<Tap>& taps, const float* x, float* y,
                    int64_t* indices) {
  if (p.sw == 1) return max_pool_plane<kFullRule, 1>(p, s, taps, x, y, indices);
  if (p.sw == 2) return max_pool_plane<kFullRule, 2>(p, s, taps, x, y, indices);
  max_pool_plane<kFullRule, 0>(p, s, taps, x, y, indices);
}

}  // namespace

bool max_pool_planes_avx512(const PoolParams& p, const PlaneSizes& s, int64_t planes, const float* x, float* y,
                            int64_t* indices) {
  // Lane offsets (l * sw, iy * w + ix) are 32-bit.
  if (!has_avx512() || s.h * s.w >= (int64_t{1} << 31) || p.sw * kLanes >= (int64_t{1} << 31)) return false;
  const std::vector<Tap> taps = row_taps::taps_of({s.w, s.ow, p.sw, p.pw, p.dw, p.kw});
  std::vector<int64_t> unread;             // indices nobody asked for, of the planes the full rule pools
  std::optional<SeparableRows> separable;  // Note [Separable windows]
  if (indices == nullptr && SeparableRows::applies(p)) separable.emplace(p, s);
  for (int64_t q = 0; q < planes; ++q) {
    const float* plane = x + q * s.h * s.w;
    const int64_t out = q * s.oh * s.ow;
    // Note [Narrow planes in registers]: values alone, checked as they are read.
    if (indices == nullptr && narrow_3x3_stride_2(p, s) && max_pool_plane_narrow(p, s, plane, y + out)) continue;
    const bool finite = all_finite(plane, s.h * s.w);
    if (indices != nullptr) {
      if (finite)
        max_pool_plane<false>(p, s, taps, plane, y + out, indices + out);
      else
        max_pool_plane<true>(p, s, taps, plane, y + out, indices + out);
    } else if (finite && separable) {
      max_pool_plane_separable(p, s, taps, plane, y + out, *separable);
    } else {
      unread.resize(static_cast<size_t>(s.oh * s.ow));
      max_pool_plane<true>(p, s, taps, plane, y + out, unread.data());
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
// indices, stored in a float buffer for the transposes) out; pc = 16 * V. The V
// vectors of an output position are pooled together, their chains overlapping (Note
// [Rows side by side]); by greater alone where the chunk is finite (Note [Greater
// alone on finite planes]).
template <bool kFullRule, int64_t V, bool kIndices>
__attribute__((target("avx512f"))) void max_pool_chunk(const PoolParams& p, const PlaneSizes& s, const float* xt,
                                                       float* yt, float* at) {
  constexpr int64_t pc = V * kLanes;
  const __m512 none = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  const __m512i unset = _mm512_set1_epi32(-1);
  const row_taps::Window2d window{s.h, s.w, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.dh, p.dw};
  for (int64_t oy = 0; oy < s.oh; ++oy)
    for (int64_t ox = 0; ox < s.ow; ++ox) {
      __m512 best[V];
      __m512i arg[V];
      for (int64_t c = 0; c < V; ++c) best[c] = none, arg[c] = unset;
      row_taps::for_each_window_tap(window, oy, ox, [&](int64_t iy, int64_t ix, int64_t, int64_t) AG_AVX512 {
        const __m512i at_here = _mm512_set1_epi32(static_cast<int>(iy * s.w + ix));
        for (int64_t c = 0; c < V; ++c) {
          const __m512 v = _mm512_loadu_ps(xt + (iy * s.w + ix) * pc + c * kLanes);
          if constexpr (!kIndices) {
            static_assert(!kFullRule);
            best[c] = _mm512_max_ps(best[c], v);
            continue;
          }
          __mmask16 take;
          if constexpr (kFullRule)
            take = _mm512_cmp_ps_mask(v, best[c], _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) |
                   _mm512_cmpeq_epi32_mask(arg[c], unset);
          else
            take = _mm512_cmp_ps_mask(v, best[c], _CMP_GT_OQ);
          best[c] = _mm512_mask_mov_ps(best[c], take, v);
          arg[c] = _mm512_mask_mov_epi32(arg[c], take, at_here);
        }
      });
      for (int64_t c = 0; c < V; ++c) {
        const int64_t o = (oy * s.ow + ox) * pc + c * kLanes;
        _mm512_storeu_ps(yt + o, best[c]);
        if constexpr (kIndices) _mm512_storeu_si512(at + o, arg[c]);
      }
    }
}

template <bool kFullRule, bool kIndices = true>
void max_pool_chunk(const PoolParams& p, const PlaneSizes& s, int64_t pc, const float* xt, float* yt, float* at) {
  static_assert(kPlaneChunk == 4 * kLanes);
  switch (pc / kLanes) {
    case 4:
      return max_pool_chunk<kFullRule, 4, kIndices>(p, s, xt, yt, at);
    case 3:
      return max_pool_chunk<kFullRule, 3, kIndices>(p, s, xt, yt, at);
    case 2:
      return max_pool_chunk<kFullRule, 2, kIndices>(p, s, xt, yt, at);
    default:
      return max_pool_chunk<kFullRule, 1, kIndices>(p, s, xt, yt, at);
  }
}
}  // namespace

bool max_pool_across_planes_avx512(const PoolParams& p, const PlaneSizes& s, int64_t planes, const float* x, float* y,
                                   int64_t* indices) {
  if (!has_avx512() || s.h * s.w >= (int64_t{1} << 31) || !across_planes_pay(s, planes)) return false;
  // Values alone on planes the registers take (Note [Narrow planes in registers]) with
  // rows of 5 outputs or more go there: 1024 planes of 15 x 15 took 28 us there against
  // 48 here; of 11 x 11, 20 against 23; of 9 x 9 (4 outputs), 26 against 15 (Zen 5).
  constexpr int64_t kNarrowFromOutputs = 5;
  if (indices == nullptr && narrow_3x3_stride_2(p, s) && s.ow >= kNarrowFromOutputs) return false;
  const int64_t in = s.h * s.w, out = s.oh * s.ow;
  std::vector<float> xt(static_cast<size_t>(in * kPlaneChunk), 0.0f), yt(static_cast<size_t>(out * kPlaneChunk)),
      at(static_cast<size_t>(out * kPlaneChunk)), back(static_cast<size_t>(out * kPlaneChunk));
  for (int64_t q0 = 0; q0 < planes; q0 += kPlaneChunk) {
    const int64_t pc = std::min(kPlaneChunk, planes - q0), padded = (pc + kLanes - 1) / kLanes * kLanes;
    transpose_block(x + q0 * in, in, xt.data(), padded, in, pc);  // xt[i][q] = x[q0 + q][i]
    const bool finite = all_finite(x + q0 * in, pc * in);
    if (finite && indices == nullptr)
      max_pool_chunk<false, false>(p, s, padded, xt.data(), yt.data(), at.data());
    else if (finite)
      max_pool_chunk<false>(p, s, padded, xt.data(), yt.data(), at.data());
    else
      max_pool_chunk<true>(p, s, padded, xt.data(), yt.data(), at.data());
    transpose_block(yt.data(), padded, y + q0 * out, out, pc, out);
    if (indices == nullptr) continue;
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
