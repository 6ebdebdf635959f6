// Note [Implicit GEMM]: a stride-1 convolution needs no im2col matrix. Pad each input
// plane once (hp = h + 2ph rows of wp = w + 2pw), and compute the output on the
// padded width: output row r, column x is then
//   y[o, r * wp + x] = sum over (c, ki, kj) of W[o, (c, ki, kj)] * xpad[c][(r + ki) * wp + x + kj],
// so row (c, ki, kj) of the product's B is the padded plane c read from offset
// ki * wp + kj: one line of memory, no copy. The AVX-512 GEMM's tiles read those
// lines where they are (sgemm_avx512_gathered): the lines of one channel overlap (kj
// shifts by a float, ki by a row), so the 32 columns of all c * kh * kw lines that a
// tile column needs are a few KiB of the padded input, which stay in L1 for every
// row block of C. Copying them into a contiguous panel first, as B's rows are, cost
// more than it saved: convnet's step took 45.7 ms with the copy, 42.0 ms without
// (Zen 4, 1 thread). The last kw - 1 columns of each output
// row are not outputs (their taps run into the next row); they are computed and
// never stored: the tiles store each output row's first ow columns where they go
// (Note [Columns in segments] in sgemm_avx512.cpp). That replaces im2col's kh * kw
// copies of the input with one padded copy, and its scatter of the result with none.
//
// The input gradient is the same computation: gy padded by kernel - 1 - padding,
// against the weight transposed (channels swapped) and flipped. The weight gradient
// reads the same shifted lines of the padded input as row products (Note [Weight
// gradient as row products]).
#include "ops/cpu/conv_implicit.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "ops/cpu/cpu_features.h"
#include "ops/cpu/epilogue.h"
#include "ops/cpu/lanes_avx512.h"
#include "ops/cpu/sgemm_avx512.h"
#include "ops/cpu/thread_scratch.h"
#include "support/parallel.h"

#include <immintrin.h>

namespace aotgrad::ops::cpu {

namespace {

// Note [Padding in vectors]: a padded plane is written a row at a time as whole
// vectors, the lanes inside the input row loaded from it (masked) and the padding's
// lanes zero. With std::fill and std::copy_n each row was three library calls
// (memset, memmove, memset) of a few floats: 8% of a 3x3 convolution on 15x15 maps.
__attribute__((target("avx512f"))) void zero_floats(float* dst, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) _mm512_storeu_ps(dst + i, _mm512_setzero_ps());
  if (i < n) _mm512_mask_storeu_ps(dst + i, first_lanes(n - i), _mm512_setzero_ps());
}

__attribute__((target("avx512f"))) void pad_planes_avx512(const float* x, int64_t p0, int64_t p1, int64_t h, int64_t w,
                                                          int64_t ph, int64_t pw, float* out) {
  const int64_t hp = h + 2 * ph, wp = w + 2 * pw, plane = hp * wp, vectors = (wp + kLanes - 1) / kLanes;
  const __mmask16 tail = first_lanes(wp - (vectors - 1) * kLanes);
  for (int64_t p = p0; p < p1; ++p) {
    float* dst = out + p * plane;
    zero_floats(dst, ph * wp);
    for (int64_t r = 0; r < h; ++r) {
      float* row = dst + (ph + r) * wp;
      // As an integer: the row's first pw lanes lie before the input row (masked off,
      // never read).
      const auto from = reinterpret_cast<uintptr_t>(x + (p * h + r) * w) - static_cast<uintptr_t>(pw * 4);
      for (int64_t v = 0; v < vectors; ++v) {
        const __mmask16 inside = bit_range(pw - v * kLanes, pw + w - v * kLanes);
        const __m512 r16 = _mm512_maskz_loadu_ps(inside, reinterpret_cast<const float*>(from + v * kLanes * 4));
        if (v + 1 < vectors)
          _mm512_storeu_ps(row + v * kLanes, r16);
        else
          _mm512_mask_storeu_ps(row + v * kLanes, tail, r16);
      }
    }
    zero_floats(dst + (ph + h) * wp, ph * wp);
  }
}

}  // namespace

void pad_planes(const float* x, int64_t p0, int64_t p1, int64_t h, int64_t w, int64_t ph, int64_t pw, float* out) {
  if (has_avx512()) return pad_planes_avx512(x, p0, p1, h, w, ph, pw, out);
  const int64_t hp = h + 2 * ph, wp = w + 2 * pw, plane = hp * wp;
  for (int64_t p = p0; p < p1; ++p) {
    float* dst = out + p * plane;
    std::fill(dst, dst + ph * wp, 0.0f);
    for (int64_t r = 0; r < h; ++r) {
      float* row = dst + (ph + r) * wp;
      std::fill(row, row + pw, 0.0f);
      std::copy_n(x + (p * h + r) * w, w, row + pw);
      std::fill(row + pw + w, row + wp, 0.0f);
    }
    std::fill(dst + (ph + h) * wp, dst + plane, 0.0f);
  }
}

namespace {

// `planes` planes of h x w, each copied into the middle of hp x wp zeros, and `slack`
// zeros after the last (the dropped columns' taps read past it).
std::unique_ptr<float[]> padded(const float* x, int64_t planes, int64_t h, int64_t w, int64_t ph, int64_t pw,
                                int64_t slack) {
  const int64_t plane = (h + 2 * ph) * (w + 2 * pw);
  std::unique_ptr<float[]> out(new float[static_cast<size_t>(planes * plane + slack)]);
  parallel_for(planes, plane, [&](int64_t p0, int64_t p1) { pad_planes(x, p0, p1, h, w, ph, pw, out.get()); });
  std::fill(out.get() + planes * plane, out.get() + planes * plane + slack, 0.0f);
  return out;
}

// Note [Row tiles]: on maps at most 16 wide whose padded rows are at least 16 long
// (15 x 15 and 16 x 16 with their padding), the product's columns are taken an output
// row to a vector: a tile of three vectors is three output rows, each vector the row's
// line at its own offset (sgemm_avx512_gathered's row_pitch). Then only lanes past ow
// are computed for nothing (1 of 16 on 15 x 15 maps, where the padded width wastes 2
// of 17), and every tile is three vectors a row, 24 FMAs a step against 8 broadcasts
// where the 32-column tiles make 16.
bool row_tiles(int64_t ow, int64_t wp) {
  return ow <= 16 && wp >= 16;
}

// One padded image `in` (cin planes of hp x wp) convolved with `wmat` ([cout, cin * kh
// * kw]) into `out` ([cout, oh, ow], + bias), through a [cout, oh * wp] product.
struct ImageConv {
  int64_t cin, hp, wp, cout, kh, kw, oh, ow;

  void run(const float* in, const float* wmat, const float* bias, const Epilogue* epilogue, float* out) const {
    const int64_t k = cin * kh * kw, l = oh * wp;
    thread_local std::vector<const float*> lines;
    lines.resize(static_cast<size_t>(k));
    for (int64_t c = 0; c < cin; ++c)
      for (int64_t ki = 0; ki < kh; ++ki)
        for (int64_t kj = 0; kj < kw; ++kj)
          lines[static_cast<size_t>((c * kh + ki) * kw + kj)] = in + c * hp * wp + ki * wp + kj;
    const bool relu = is_relu(epilogue);  // applied in the store
    if (row_tiles(ow, wp)) {              // Note [Row tiles]: each output row is 16 columns, its first ow kept
      sgemm_avx512_gathered(cout, oh * 16, k, wmat, k, lines.data(), ColumnSegments{16, ow, ow, bias, relu}, out,
                            oh * ow, wp);
    } else {  // each output row's wp columns keep their first ow (Note [Columns in segments])
      sgemm_avx512_gathered(cout, l, k, wmat, k, lines.data(), ColumnSegments{wp, ow, ow, bias, relu}, out, oh * ow);
    }
    if (!relu) apply_epilogue(epilogue, out, cout * oh * ow);
  }
};

bool applies(const Conv2dSizes& s) {
  return has_avx512() && s.n > 0 && s.c > 0 && s.oc > 0 && s.kh > 0 && s.kw > 0 && s.ph >= 0 && s.pw >= 0 &&
         s.ph < s.kh && s.pw < s.kw && s.oh() > 0 && s.ow() > 0;
}

void input_gradient(const Conv2dSizes& s, const float* gy, const float* w, float* gx) {
  const int64_t qh = s.kh - 1 - s.ph, qw = s.kw - 1 - s.pw;  // gy's padding
  const ImageConv conv{s.oc, s.oh() + 2 * qh, s.ow() + 2 * qw, s.c, s.kh, s.kw, s.h, s.w};
  std::unique_ptr<float[]> gyp = padded(gy, s.n * s.oc, s.oh(), s.ow(), qh, qw, s.kw + kGatheredRowSlack);
  // wt[c, (o, ki, kj)] = w[o, c, kh - 1 - ki, kw - 1 - kj]
  const int64_t taps = s.kh * s.kw;
  std::vector<float> wt(static_cast<size_t>(s.c * s.oc * taps));
  for (int64_t o = 0; o < s.oc; ++o)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t t = 0; t < taps; ++t)
        wt[static_cast<size_t>((c * s.oc + o) * taps + t)] = w[(o * s.c + c) * taps + (taps - 1 - t)];
  const int64_t plane = conv.hp * conv.wp;
  parallel_for(s.n, s.c * s.h * s.w * s.oc * taps, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      conv.run(gyp.get() + i * s.oc * plane, wt.data(), nullptr, nullptr, gx + i * s.c * s.h * s.w);
  });
}

// Note [Weight gradient as row products]: gw[o, (c, ki, kj)] is the sum over images,
// output rows r and columns x < ow of gy[o, r, x] * xpad[c][(r + ki) * wp + kj + x].
// Both factors run along x in memory, so the sum is taken as dot products of rows in
// 16-lane vectors, with no copy and no transpose of either: a tile of 4 output
// channels by 4 lines (c, ki, kj) keeps its 16 vector sums in registers over the rows
// of a group of images (as many as keep their gy and padded input in half the L2),
// then adds them to vector partials whose lanes are summed once at the end. Loads
// past ow are masked to zero on both sides, so padding never meets an input value
// (0 * inf would be NaN), and infinite inputs give infinite gradients, as im2col does.
// Before, gy was widened to the padded width (zeros past ow) and multiplied by the
// lines as one long product: that transposed gy for every image, fell back to im2col
// on any infinite input, and left a 3-channel input's 27 lines mostly padding in the
// 32-column tiles. Zen 4, 1 thread, convnet's weight gradients (3, 32 and 32 input
// channels): 2.2, 6.8 and 4.2 ms before, 0.61, 6.7 and 3.5 ms after.
constexpr int kDotRows = 4;                        // output channels per tile, and lines per tile
constexpr int64_t kGroupBytes = int64_t{1} << 19;  // images summed per tile visit: half of a 1 MiB L2

// A tile's rows in its first image, and how far the next image's lie.
struct DotTile {
  const float* gy[kDotRows];    // row 0 of each output channel's plane (oh x ow)
  const float* line[kDotRows];  // row 0 of each line (oh rows of wp)
  int64_t gy_image, line_image;
};

// partial[16 * (a * kDotRows + b) + lane] += the lane's share of sum gy_a * line_b over
// `images` images.
template <bool Full>
__attribute__((target("avx512f"))) void dot_tile(const DotTile& t, int64_t images, int64_t oh, int64_t ow, int64_t wp,
                                                 float* partial) {
  __m512 acc[kDotRows][kDotRows];
#pragma GCC unroll 4
  for (int a = 0; a < kDotRows; ++a)
    for (int b = 0; b < kDotRows; ++b) acc[a][b] = _mm512_setzero_ps();
  // One loop over the 16-column steps of every row of every image: with nested loops
  // (or loops the compiler does not unroll) GCC 12 stores the sums to memory at
  // every step. at_g and at_l are the step's row offsets in gy's planes and the lines.
  const int64_t steps = images * oh * ((ow + 15) / 16);
  int64_t at_g = 0, at_l = 0, x0 = 0, r = 0;
  for (int64_t step = 0; step < steps; ++step) {
    const __mmask16 m = first_lanes(ow - x0);
    __m512 g[kDotRows], l[kDotRows];
#pragma GCC unroll 4
    for (int a = 0; a < kDotRows; ++a)
      g[a] = Full ? _mm512_loadu_ps(t.gy[a] + at_g + x0) : _mm512_maskz_loadu_ps(m, t.gy[a] + at_g + x0);
#pragma GCC unroll 4
    for (int b = 0; b < kDotRows; ++b)
      l[b] = Full ? _mm512_loadu_ps(t.line[b] + at_l + x0) : _mm512_maskz_loadu_ps(m, t.line[b] + at_l + x0);
#pragma GCC unroll 4
    for (int a = 0; a < kDotRows; ++a)
      for (int b = 0; b < kDotRows; ++b) acc[a][b] = _mm512_fmadd_ps(g[a], l[b], acc[a][b]);
    x0 += 16;
    if (x0 >= ow) {
      x0 = 0;
      at_g += ow;
      at_l += wp;
      if (++r == oh) {
        r = 0;
        at_g += t.gy_image - oh * ow;
        at_l += t.line_image - oh * wp;
      }
    }
  }
#pragma GCC unroll 4
  for (int a = 0; a < kDotRows; ++a)
    for (int b = 0; b < kDotRows; ++b) {
      float* p = partial + 16 * (a * kDotRows + b);
      _mm512_storeu_ps(p, _mm512_add_ps(_mm512_loadu_ps(p), acc[a][b]));
    }
}

// The tiles of images [i0, i1) summed into `partial` (oblocks x jblocks tiles), in
// groups of images whose gy and padded input stay in L2 while every tile reads them.
void weight_gradient_part(const Conv2dSizes& s, const float* gy, const float* xp, int64_t i0, int64_t i1,
                          float* partial) {
  const int64_t wp = s.w + 2 * s.pw, plane = (s.h + 2 * s.ph) * wp, oh = s.oh(), ow = s.ow();
  const int64_t taps = s.kh * s.kw, k = s.c * taps;
  const int64_t oblocks = (s.oc + kDotRows - 1) / kDotRows, jblocks = (k + kDotRows - 1) / kDotRows;
  const int64_t image_bytes = static_cast<int64_t>(sizeof(float)) * (s.oc * oh * ow + s.c * plane);
  const int64_t group = std::max<int64_t>(1, kGroupBytes / image_bytes);
  // A tile's rows past oc or k repeat its first: computed, never written out.
  auto within = [](int64_t block, int at, int64_t count) {
    const int64_t i = block * kDotRows + at;
    return i < count ? i : block * kDotRows;
  };
  for (int64_t g0 = i0; g0 < i1; g0 += group) {
    const int64_t images = std::min(group, i1 - g0);
    for (int64_t ob = 0; ob < oblocks; ++ob)
      for (int64_t jb = 0; jb < jblocks; ++jb) {
        DotTile t{{}, {}, s.oc * oh * ow, s.c * plane};
        for (int a = 0; a < kDotRows; ++a) t.gy[a] = gy + (g0 * s.oc + within(ob, a, s.oc)) * oh * ow;
        for (int b = 0; b < kDotRows; ++b) {
          const int64_t j = within(jb, b, k), tap = j % taps;
          t.line[b] = xp + (g0 * s.c + j / taps) * plane + (tap / s.kw) * wp + tap % s.kw;
        }
        (ow % 16 == 0 ? dot_tile<true> : dot_tile<false>)(t, images, oh, ow, wp,
                                                          partial + (ob * jblocks + jb) * 16 * kDotRows * kDotRows);
      }
  }
}

void weight_gradient(const Conv2dSizes& s, const float* gy, const float* x, float* gw) {
  const int64_t k = s.c * s.kh * s.kw, jblocks = (k + kDotRows - 1) / kDotRows;
  const int64_t tile_floats = 16 * kDotRows * kDotRows;
  const int64_t part_floats = (s.oc + kDotRows - 1) / kDotRows * jblocks * tile_floats;
  std::unique_ptr<float[]> xp = padded(x, s.n * s.c, s.h, s.w, s.ph, s.pw, 0);
  // The images are split into one part per thread, each summing into partials of its own.
  const int64_t parts = std::clamp<int64_t>(num_threads(), 1, s.n);
  std::vector<float> partial(static_cast<size_t>(parts * part_floats), 0.0f);
  parallel_for(parts, s.n / parts * s.oc * k * s.oh() * s.ow(), [&](int64_t p0, int64_t p1) {
    for (int64_t part = p0; part < p1; ++part)
      weight_gradient_part(s, gy, xp.get(), part * s.n / parts, (part + 1) * s.n / parts,
                           partial.data() + part * part_floats);
  });
  for (int64_t o = 0; o < s.oc; ++o)
    for (int64_t j = 0; j < k; ++j) {
      const int64_t at =
          ((o / kDotRows) * jblocks + j / kDotRows) * tile_floats + 16 * ((o % kDotRows) * kDotRows + j % kDotRows);
      float sum = 0.0f;
      for (int64_t part = 0; part < parts; ++part)
        for (int lane = 0; lane < 16; ++lane) sum += partial[static_cast<size_t>(part * part_floats + at + lane)];
      gw[o * k + j] = sum;
    }
}
}  // namespace

// Measured on a Zen 5 core: convnet's 3x3 convolutions on 32x32 and 16x16 maps (288
// and more columns per image) run 1.3-1.6x faster than through im2col; squeezenet's
// on 7x7 and 3x3 maps (63 and 15 columns) run 1.3x slower: their products leave the
// 32-column tiles mostly padding and dropped columns, where im2col lays a chunk of
// images side by side. A 1x1 convolution is a plain product already.
bool conv2d_implicit_pays(const Conv2dSizes& s) {
  constexpr int64_t kMinColumns = 128;
  return s.kh * s.kw > 1 && s.oh() * (s.w + 2 * s.pw) >= kMinColumns;
}

// Each thread pads and convolves its own share of the images (Note [Images split over
// the threads] in conv.cpp): its padded copy stays in its own cache, where a copy of
// all the images made on one thread was then read by the other from afar (on a 2-vCPU
// VM, 8 images of 16 x 15 x 15: 185-215 us at 2 threads against 234 at 1).
bool conv2d_implicit_forward(const Conv2dSizes& s, const float* x, const float* w, const float* bias,
                             const Epilogue* epilogue, float* y, int64_t y_image) {
  if (!applies(s)) return false;
  if (y_image == 0) y_image = s.oc * s.oh() * s.ow();
  const ImageConv conv{s.c, s.h + 2 * s.ph, s.w + 2 * s.pw, s.oc, s.kh, s.kw, s.oh(), s.ow()};
  const int64_t plane = conv.hp * conv.wp, slack = s.kw + kGatheredRowSlack;
  const int64_t image_work = s.oc * s.oh() * s.ow() * s.c * s.kh * s.kw;
  for_each_thread(s.n >= num_threads() ? s.n * image_work : 0, [&](int t, int nt) {
    const Share images = thread_share(s.n, t, nt);
    ThreadScratch<float, 0> xp(s.c * plane + slack);
    std::fill(xp.get() + s.c * plane, xp.get() + s.c * plane + slack, 0.0f);
    for (int64_t i = images.begin; i < images.end; ++i) {
      pad_planes(x + i * s.c * s.h * s.w, 0, s.c, s.h, s.w, s.ph, s.pw, xp.get());
      conv.run(xp.get(), w, bias, epilogue, y + i * y_image);
    }
  });
  return true;
}

bool conv2d_implicit_backward(const Conv2dSizes& s, const float* gy, const float* x, const float* w, float* gx,
                              float* gw) {
  if (!applies(s)) return false;
  if (gx != nullptr) input_gradient(s, gy, w, gx);
  if (gw != nullptr) weight_gradient(s, gy, x, gw);
  return true;
}

}  // namespace aotgrad::ops::cpu
