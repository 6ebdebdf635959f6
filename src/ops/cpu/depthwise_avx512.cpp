// Note [Depthwise rows in vectors]: a depthwise layer's output rows are short
// (MobileNet's maps shrink to 16, 8, 4, 2 columns), so the scalar kernel's row
// loops (Note [Depthwise convolutions] in conv.cpp) spend their time starting and
// ending. Here 16 outputs of a row are one vector: for each kernel tap its input
// elements are loaded as max pooling loads them (row_taps_avx512.h: a masked load,
// two and a permute for stride 2, a gather otherwise; lanes in the padding read 0)
// and multiplied into the accumulator with one FMA, taps in the scalar kernel's
// order (rows, then columns), starting from the bias. The weight gradient is the
// same walk with the products of gy and the loaded inputs summed per tap. The input
// gradient is gathered, not scattered: 16 input columns at a time, each tap's
// output columns read with one expanding load (lane l gets the next gy element when
// some output reads column l, any stride), summed in a register and stored once —
// adding into gx tap by tap would store and reload overlapping vectors.
#include "ops/cpu/depthwise_avx512.h"

#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "ops/cpu/cpu_features.h"
#include "ops/cpu/row_taps_avx512.h"
#include "ops/cpu/thread_scratch.h"
#include "ops/cpu/transpose_copy.h"
#include "support/parallel.h"

namespace aotgrad::ops::cpu {

namespace {

constexpr int64_t kMaxTaps = 64;  // the weight gradient's accumulators (8 x 8 kernels)
// The channels-last path's scratch slots (its transposed input, output, weight and bias).
constexpr int kInputScratch = 12, kOutputScratch = 13, kWeightScratch = 14, kBiasScratch = 15;

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

// For the input columns [ix0, ix0 + 16) of a row and kernel column kj: the lanes
// that some output column ox reads (ix = ox * sw - pw + kj * dw), and the ox of the
// first; the next lanes' ox follow one by one (an expanding load).
struct InputTap {
  __mmask16 lanes;
  int64_t first_ox;
};

std::vector<InputTap> input_taps(const DepthwiseSizes& g) {
  std::vector<InputTap> taps;
  for (int64_t ix0 = 0; ix0 < g.w; ix0 += row_taps::kLanes)
    for (int64_t kj = 0; kj < g.kw; ++kj) {
      InputTap t{0, -1};
      for (int64_t l = 0; l < row_taps::kLanes && ix0 + l < g.w; ++l) {
        const int64_t u = ix0 + l + g.pw - kj * g.dw;  // ox * sw
        if (u < 0 || u % g.sw != 0 || u / g.sw >= g.ow) continue;
        t.lanes = static_cast<__mmask16>(t.lanes | (1u << l));
        if (t.first_ox < 0) t.first_ox = u / g.sw;
      }
      taps.push_back(t);
    }
  return taps;
}

// One input plane's gradient: per 16 columns of a row, the sum over the channel's
// outputs and the taps that read them of w · gy, gathered in registers and stored once.
__attribute__((target("avx512f"))) void input_grad_plane(const DepthwiseSizes& g, const std::vector<InputTap>& taps,
                                                         int64_t per_channel, const float* gy, const float* w,
                                                         float* gx) {
  const int64_t kk = g.kh * g.kw;
  for (int64_t iy = 0; iy < g.h; ++iy) {
    const InputTap* tap = taps.data();
    for (int64_t ix0 = 0; ix0 < g.w; ix0 += row_taps::kLanes, tap += g.kw) {
      __m512 acc = _mm512_setzero_ps();
      for (int64_t j = 0; j < per_channel; ++j)
        for (int64_t ki = 0; ki < g.kh; ++ki) {
          const int64_t t = iy + g.ph - ki * g.dh;  // oy * sh
          if (t < 0 || t % g.sh != 0 || t / g.sh >= g.oh) continue;
          const float* gy_row = gy + (j * g.oh + t / g.sh) * g.ow;
          for (int64_t kj = 0; kj < g.kw; ++kj) {
            if (tap[kj].lanes == 0) continue;
            const __m512 v = _mm512_maskz_expandloadu_ps(tap[kj].lanes, gy_row + tap[kj].first_ox);
            acc = _mm512_fmadd_ps(_mm512_set1_ps(w[j * kk + ki * g.kw + kj]), v, acc);
          }
        }
      _mm512_mask_storeu_ps(gx + iy * g.w + ix0, row_taps::first_lanes(g.w - ix0), acc);
    }
  }
}

// acc[tap] += Σ over the plane's rows of gy · x (float lanes per image, then double).
__attribute__((target("avx512f"))) void weight_grad_plane(const DepthwiseSizes& g,
                                                          const std::vector<row_taps::Tap>& taps, const float* gy,
                                                          const float* x, double* acc) {
  const __m512i lane_step = row_taps::lane_steps(g.sw);
  const __m512 zero = _mm512_setzero_ps();
  __m512 sums[kMaxTaps];
  for (int64_t k = 0; k < g.kh * g.kw; ++k) sums[k] = zero;
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    const row_taps::Tap* tap = taps.data();
    for (int64_t ox0 = 0; ox0 < g.ow; ox0 += row_taps::kLanes, tap += g.kw) {
      const __m512 gyv = _mm512_maskz_loadu_ps(row_taps::first_lanes(g.ow - ox0), gy + oy * g.ow + ox0);
      for (int64_t ki = 0; ki < g.kh; ++ki) {
        const int64_t iy = oy * g.sh - g.ph + ki * g.dh;
        if (iy < 0 || iy >= g.h) continue;
        for (int64_t kj = 0; kj < g.kw; ++kj) {
          const row_taps::Tap& t = tap[kj];
          if (t.lanes == 0) continue;
          __m512& s = sums[ki * g.kw + kj];
          s = _mm512_mask3_fmadd_ps(gyv, row_taps::load_tap(x + iy * g.w, t, g.sw, zero, lane_step), s, t.lanes);
        }
      }
    }
  }
  for (int64_t k = 0; k < g.kh * g.kw; ++k) acc[k] += static_cast<double>(_mm512_reduce_add_ps(sums[k]));
}

}  // namespace

bool depthwise_input_grad_avx512(const DepthwiseSizes& g, int64_t p0, int64_t p1, const float* gy, const float* w,
                                 float* gx) {
  if (!has_avx512()) return false;
  const std::vector<InputTap> taps = input_taps(g);
  const int64_t per_channel = g.oc / g.c, kk = g.kh * g.kw;
  for (int64_t plane = p0; plane < p1; ++plane) {
    const int64_t b = plane / g.c, ci = plane % g.c, o = ci * per_channel;  // the channel's first output
    input_grad_plane(g, taps, per_channel, gy + (b * g.oc + o) * g.oh * g.ow, w + o * kk, gx + plane * g.h * g.w);
  }
  return true;
}

bool depthwise_weight_grad_avx512(const DepthwiseSizes& g, int64_t n, int64_t o0, int64_t o1, const float* gy,
                                  const float* x, float* gw) {
  if (!has_avx512() || g.sw * row_taps::kLanes >= (int64_t{1} << 31) || g.kh * g.kw > kMaxTaps) return false;
  const std::vector<row_taps::Tap> taps = row_taps::taps_of({g.w, g.ow, g.sw, g.pw, g.dw, g.kw});
  const int64_t per_channel = g.oc / g.c, kk = g.kh * g.kw;
  std::vector<double> acc(static_cast<size_t>(kk));
  for (int64_t o = o0; o < o1; ++o) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t b = 0; b < n; ++b)
      weight_grad_plane(g, taps, gy + (b * g.oc + o) * g.oh * g.ow, x + (b * g.c + o / per_channel) * g.h * g.w,
                        acc.data());
    for (int64_t k = 0; k < kk; ++k) gw[o * kk + k] = static_cast<float>(acc[static_cast<size_t>(k)]);
  }
  return true;
}

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

// Note [Depthwise channels in vectors]: in MobileNet's last layers the maps are 4x4
// and 2x2 with hundreds of channels, and a row of 2 outputs fills 2 of a vector's 16
// lanes. There the output is computed channels-last instead: each image's input is
// transposed to [h * w, channels] (channels padded to 16), and the 16 channels of one
// output position are one vector, the taps read with plain loads and multiplied in
// with one FMA each, in the row kernel's order (rows, then columns, from the bias),
// so every output is the same sum of the same products, rounded alike. The result is
// transposed back. It takes over when its vectors are fuller than the rows' by a
// quarter, which pays for the two transposes.
//   Which taps of the window each output position reads (inside the input) is the
// same for every image and channel: it is listed once a call, as the offsets of the
// tap's weights and inputs, so the loop over a position's taps does no index
// arithmetic and no bounds checks; and each tap serves up to eight channel blocks at
// once (eight accumulators), so the loop's own work is spread over eight FMAs and no
// accumulator's chain waits alone on the FMA's latency. Checking the window's bounds
// tap by tap, one block at a time, had kept the FMAs a fifth of the loop's
// instructions. Larger maps are done in bands of output rows (bands_of). MobileNet's
// eleven depthwise layers took 336 us of its forward before, 240 after (Zen 5, A/B).
namespace {
bool channels_pay(const DepthwiseSizes& g) {
  return g.oc == g.c && row_taps::row_fill(g.c) > 1.25 * row_taps::row_fill(g.ow);
}

// For each output position, its window's taps inside the input, in the row kernel's
// order: [first[j], first[j + 1]) of `weight` and `input`, offsets in floats of the
// channels-last layouts (cp channels a tap, cp a position).
struct WindowTaps {
  std::vector<int64_t> first, weight, input;
};

WindowTaps window_taps(const DepthwiseSizes& g, int64_t cp) {
  const row_taps::Window2d window{g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw};
  WindowTaps t;
  for (int64_t oy = 0; oy < g.oh; ++oy)
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      t.first.push_back(static_cast<int64_t>(t.weight.size()));
      row_taps::for_each_window_tap(window, oy, ox, [&](int64_t iy, int64_t ix, int64_t ki, int64_t kj) {
        t.weight.push_back((ki * g.kw + kj) * cp);
        t.input.push_back((iy * g.w + ix) * cp);
      });
    }
  t.first.push_back(static_cast<int64_t>(t.weight.size()));
  return t;
}

// kBlocks channel blocks from c0 of one output position: the bias, then each tap.
// xt + xo[t] - band is tap t's input (band: where xt's first row starts in the image).
template <int kBlocks>
__attribute__((target("avx512f"), always_inline)) inline void position_blocks(const int64_t* wo, const int64_t* xo,
                                                                              int64_t taps, int64_t c0, const float* xt,
                                                                              int64_t band, const float* wt,
                                                                              const float* bt, float* out) {
  __m512 acc[kBlocks];
  for (int b = 0; b < kBlocks; ++b) acc[b] = _mm512_loadu_ps(bt + c0 + b * row_taps::kLanes);
  for (int64_t t = 0; t < taps; ++t) {
    const float* wv = wt + wo[t] + c0;
    const float* xv = xt + (xo[t] - band) + c0;
    for (int b = 0; b < kBlocks; ++b)
      acc[b] = _mm512_fmadd_ps(_mm512_loadu_ps(wv + b * row_taps::kLanes), _mm512_loadu_ps(xv + b * row_taps::kLanes),
                               acc[b]);
  }
  for (int b = 0; b < kBlocks; ++b) _mm512_storeu_ps(out + c0 + b * row_taps::kLanes, acc[b]);
}

using PositionBlocksFn = void (*)(const int64_t*, const int64_t*, int64_t, int64_t, const float*, int64_t, const float*,
                                  const float*, float*);
template <int kBlocks>
__attribute__((target("avx512f"))) void position_blocks_fn(const int64_t* wo, const int64_t* xo, int64_t taps,
                                                           int64_t c0, const float* xt, int64_t band, const float* wt,
                                                           const float* bt, float* out) {
  position_blocks<kBlocks>(wo, xo, taps, c0, xt, band, wt, bt, out);
}
constexpr int kMostBlocks = 8;  // accumulators a position at once
constexpr PositionBlocksFn kPositionBlocks[kMostBlocks + 1] = {nullptr,
                                                               position_blocks_fn<1>,
                                                               position_blocks_fn<2>,
                                                               position_blocks_fn<3>,
                                                               position_blocks_fn<4>,
                                                               position_blocks_fn<5>,
                                                               position_blocks_fn<6>,
                                                               position_blocks_fn<7>,
                                                               position_blocks_fn<8>};

// Output positions [j0, j1) of one image: xt its input rows from `band` floats into
// [h * w, cp] on, yt the positions' outputs [j1 - j0, cp] (cp: channels padded to 16).
// A position's blocks go up to kMostBlocks at a time, the rest in one call: each
// accumulator is a chain of FMAs, one a tap, so a lone block waits on the FMA's latency
// at every tap.
__attribute__((target("avx512f"))) void depthwise_channels_last(const WindowTaps& taps, int64_t j0, int64_t j1,
                                                                int64_t cp, const float* xt, int64_t band,
                                                                const float* wt, const float* bt, float* yt) {
  const int64_t blocks = cp / row_taps::kLanes;
  for (int64_t j = j0; j < j1; ++j) {
    const int64_t *wo = taps.weight.data() + taps.first[j], *xo = taps.input.data() + taps.first[j];
    const int64_t n = taps.first[j + 1] - taps.first[j];
    for (int64_t b = 0; b < blocks; b += kMostBlocks) {
      const auto group = static_cast<size_t>(std::min<int64_t>(kMostBlocks, blocks - b));
      kPositionBlocks[group](wo, xo, n, b * row_taps::kLanes, xt, band, wt, bt, yt + (j - j0) * cp);
    }
  }
}

// Output rows [oy0, oy1) and the input rows [iy0, iy1) their windows read.
struct Band {
  int64_t oy0, oy1, iy0, iy1;
};

// The output rows in bands whose transposed input rows take kBandFloats or less (one
// row at least): transposed whole, a 16x16 map of 72 channels (MobileNet's first
// stride-2 depthwise layer) is 80 KiB an image, written to L2 and read back; a band
// stays in L1 from its transpose to its last tap.
std::vector<Band> bands_of(const DepthwiseSizes& g, int64_t cp) {
  constexpr int64_t kBandFloats = 6144;  // 24 KiB
  auto input_rows = [&](int64_t rows) { return (rows - 1) * g.sh + (g.kh - 1) * g.dh + 1; };
  int64_t rows = 1;
  while (rows < g.oh && input_rows(rows + 1) * g.w * cp <= kBandFloats) ++rows;
  std::vector<Band> bands;
  for (int64_t oy0 = 0; oy0 < g.oh; oy0 += rows) {
    const int64_t oy1 = std::min(g.oh, oy0 + rows);
    const int64_t iy0 = std::clamp<int64_t>(oy0 * g.sh - g.ph, 0, g.h);
    const int64_t iy1 = std::clamp<int64_t>((oy1 - 1) * g.sh - g.ph + (g.kh - 1) * g.dh + 1, iy0, g.h);
    bands.push_back({oy0, oy1, iy0, iy1});
  }
  return bands;
}
}  // namespace

bool depthwise_forward_channels_avx512(const DepthwiseSizes& g, int64_t n, const float* x, const float* w,
                                       const float* bias, float* y) {
  if (!has_avx512() || !channels_pay(g)) return false;
  const int64_t cp = (g.c + row_taps::kLanes - 1) / row_taps::kLanes * row_taps::kLanes;
  const int64_t in = g.h * g.w, out = g.oh * g.ow, kk = g.kh * g.kw;
  // The weight and bias channels-last, in this thread's scratch (the other threads read
  // it while the call lasts), zeros in the padding channels.
  ThreadScratch<float, kWeightScratch> wt(kk * cp);
  ThreadScratch<float, kBiasScratch> bt(cp);
  std::fill(wt.get(), wt.get() + kk * cp, 0.0f);
  std::fill(bt.get(), bt.get() + cp, 0.0f);
  for (int64_t c = 0; c < g.c; ++c) {
    for (int64_t k = 0; k < kk; ++k) wt.get()[k * cp + c] = w[c * kk + k];
    bt.get()[c] = bias ? bias[c] : 0.0f;
  }
  const WindowTaps taps = window_taps(g, cp);
  const std::vector<Band> bands = bands_of(g, cp);
  int64_t band_in = 0, band_out = 0;  // the most positions a band reads and writes
  for (const Band& b : bands) {
    band_in = std::max(band_in, (b.iy1 - b.iy0) * g.w);
    band_out = std::max(band_out, (b.oy1 - b.oy0) * g.ow);
  }
  parallel_for(n, g.c * (in + out * kk), [&](int64_t b0, int64_t b1) {
    ThreadScratch<float, kInputScratch> xt(band_in * cp);
    ThreadScratch<float, kOutputScratch> yt(band_out * cp);
    // The padding channels' inputs are zeros (their outputs are computed and dropped).
    for (int64_t i = 0; i < band_in; ++i) std::fill(xt.get() + i * cp + g.c, xt.get() + (i + 1) * cp, 0.0f);
    for (int64_t b = b0; b < b1; ++b) {
      const float* xb = x + b * g.c * in;
      float* yb = y + b * g.c * out;
      for (const Band& band : bands) {
        const int64_t first = band.iy0 * g.w, j0 = band.oy0 * g.ow, j1 = band.oy1 * g.ow;
        // xt[i][c] = x[b][c][first + i]; y[b][c][j0 + j] = yt[j][c]
        transpose_block(xb + first, in, xt.get(), cp, band.iy1 * g.w - first, g.c);
        depthwise_channels_last(taps, j0, j1, cp, xt.get(), first * cp, wt.get(), bt.get(), yt.get());
        transpose_block(yt.get(), cp, yb + j0, out, g.c, j1 - j0);
      }
    }
  });
  return true;
}

}  // namespace aotgrad::ops::cpu
