// Note [Winograd F(4x4, 3x3)]: a 3x3 convolution at stride 1 spends 9 multiplies on
// each output of each channel pair, and SqueezeNet's eight 3x3 layers were half of
// its inference time with the direct kernels near the FMA peak (Note [Output channels
// in vectors]: 88% of it on 7x7 maps). Winograd's minimal filtering (Lavin and
// Gray, "Fast Algorithms for Convolutional Neural Networks", 2016) computes a 4x4
// patch of outputs from 36 products: for each 6x6 input tile d (the patch's window;
// tiles four apart) and each channel pair, Y = A^T [(G g G^T) . (B^T d B)] A, with
//
//   B^T = [4  0 -5  0  1  0]   G = [ 1/4     0    0]   A^T = [1  1  1  1  1  0]
//         [0 -4 -4  1  1  0]       [-1/6 -1/6 -1/6]         [0  1 -1  2 -2  0]
//         [0  4 -4 -1  1  0]       [-1/6  1/6 -1/6]         [0  1  1  4  4  0]
//         [0 -2 -1  2  1  0]       [1/24 1/12  1/6]         [0  1 -1  8 -8  1]
//         [0  2 -1 -2  1  0]       [1/24 -1/12 1/6]
//         [0  4  0 -5  0  1]       [   0     0    1]
//
// and the sum over input channels taken between the transforms: for each of the 36
// transformed positions (a "frequency"), the transformed weight [oc, c] times the
// transformed input [c, tiles], which is a 1x1 convolution that the channel-vector
// kernels compute (channel_vectors_product: output channels in the vectors, tiles in
// place of positions). 2.25 multiplies an output instead of 9, against three passes:
//  - the input's: each channel block of an image turned into positions of 16
//    channels (a transpose a 16 x 16 block), zero-bordered, so that each tile's 36
//    values are 36 vector loads and its transform 36 vectors of 16 channels; 16 tiles'
//    transforms transposed back into the product's rows ([freq][channel][tile]);
//  - the weight's, once a call (G g G^T, from the weight packed in 16-channel blocks);
//  - the output's, each tile's 36 vectors of 16 output channels (kept together by
//    the products) to its 16 positions, the bias and the ReLU added, up to four
//    tiles of a tile row transposed together into rows of the map (a concatenation's
//    slice where the output is one).
//
// Floats: the transforms multiply by small integers and 1/4, 1/6, 1/24 and add a
// dozen values each, so the rounding is that of a direct sum of more, larger terms;
// the tests hold it to a double-precision direct convolution within 1e-5 of the size
// of its terms (the sum of their absolute values), and it measured about 2e-6 (16 to
// 256 channels; the direct kernels' about 3e-7). A NaN or infinity would not stay
// where it belongs (a tile's transform mixes its 36 inputs, and inf - inf is NaN:
// every output of the tile would be NaN, where the direct sum gives NaN only to the
// outputs whose windows hold it), so the kernel declines an input or weight that is
// not finite, and the direct paths take it.
//
// Each thread takes whole images, a batch at a time of about kColumns tiles (so that
// a 3x3 map's one tile an image still makes products of many columns), and the output
// channels kGroupBlocks blocks at a time, the group's products for all 36 frequencies
// staying in L2 until the output transform reads them. The input's and the weight's
// frequency planes are never a multiple of 4 KiB apart (unaliased): their transforms
// touch all 36 at once.
#include "ops/cpu/conv_winograd_avx512.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "ops/cpu/conv_channel_vectors_avx512.h"
#include "ops/cpu/cpu_features.h"
#include "ops/cpu/lanes_avx512.h"
#include "ops/cpu/thread_scratch.h"
#include "support/parallel.h"

namespace aotgrad::ops::cpu {

namespace {

constexpr int kIn = 6;               // an input tile's side
constexpr int kOut = 4;              // an output tile's side
constexpr int kFreqs = kIn * kIn;    // a tile's transformed values
constexpr int64_t kColumns = 64;     // tiles a batch of images aims at
constexpr int64_t kGroupBlocks = 4;  // output channel blocks a group

// The tiles of one convolution and the buffers they are read from.
struct Tiles {
  int64_t oh, ow;             // output rows and columns
  int64_t th, tw, per_image;  // tiles: rows, columns, an image's
  int64_t rows, cols;         // an image's channel block with its zero border, positions
  int64_t c_blocks, blocks;   // 16-channel blocks of the input and of the output
};

Tiles tiles_of(const FewTapsConv& s) {
  Tiles t{};
  t.oh = s.oh();
  t.ow = s.ow();
  t.th = (t.oh + kOut - 1) / kOut;
  t.tw = (t.ow + kOut - 1) / kOut;
  t.per_image = t.th * t.tw;
  t.rows = kOut * t.th + 2;
  t.cols = kOut * t.tw + 2;
  t.c_blocks = (s.c + kLanes - 1) / kLanes;
  t.blocks = (s.oc + kLanes - 1) / kLanes;
  return t;
}

// A stride of at least `floats` between the frequencies' planes that is an odd number
// of cache lines: at a multiple of 4 KiB (16 channels of 64 tiles) every plane falls
// into one set of the L1 cache, which holds 12 lines, and the transforms touch 36.
int64_t unaliased(int64_t floats) {
  const int64_t lines = (floats + kLanes - 1) / kLanes;
  return (lines % 2 == 0 ? lines + 1 : lines) * kLanes;
}

using V = __m512;
#define WINO_INLINE __attribute__((target("avx512f"), always_inline)) inline
WINO_INLINE V add(V a, V b) {
  return _mm512_add_ps(a, b);
}
WINO_INLINE V sub(V a, V b) {
  return _mm512_sub_ps(a, b);
}
WINO_INLINE V times(float k, V a) {
  return _mm512_mul_ps(_mm512_set1_ps(k), a);
}
WINO_INLINE V axpy(float k, V a, V b) {  // k a + b
  return _mm512_fmadd_ps(_mm512_set1_ps(k), a, b);
}

// out[i * so] = (B^T d)[i] for d[i * sd], i < 6.
WINO_INLINE void input_rows(const V* d, int sd, V* out, int so) {
  const V a = axpy(-4, d[2 * sd], d[4 * sd]), b = axpy(-4, d[1 * sd], d[3 * sd]);
  const V c = sub(d[4 * sd], d[2 * sd]), e = times(2, sub(d[3 * sd], d[1 * sd]));
  out[0 * so] = axpy(4, d[0], axpy(-5, d[2 * sd], d[4 * sd]));
  out[1 * so] = add(a, b);
  out[2 * so] = sub(a, b);
  out[3 * so] = add(c, e);
  out[4 * so] = sub(c, e);
  out[5 * so] = axpy(4, d[1 * sd], axpy(-5, d[3 * sd], d[5 * sd]));
}

// out[i * so] = (A^T m)[i] for m[i * sm], i < 4.
WINO_INLINE void output_rows(const V* m, int sm, V* out, int so) {
  const V p = add(m[1 * sm], m[2 * sm]), q = sub(m[1 * sm], m[2 * sm]);
  const V u = add(m[3 * sm], m[4 * sm]), v = sub(m[3 * sm], m[4 * sm]);
  out[0 * so] = add(add(m[0], p), u);
  out[1 * so] = axpy(2, v, q);
  out[2 * so] = axpy(4, u, p);
  out[3 * so] = add(axpy(8, v, q), m[5 * sm]);
}

// out[i * so] = (G g)[i] for g[i * sg], i < 3 (out: 6).
WINO_INLINE void weight_rows(const V* g, int sg, V* out, int so) {
  const V outer = add(g[0], g[2 * sg]);
  out[0 * so] = times(0.25f, g[0]);
  out[1 * so] = times(-1.0f / 6, add(outer, g[sg]));
  out[2 * so] = times(-1.0f / 6, sub(outer, g[sg]));
  const V quarter = axpy(1.0f / 24, g[0], times(1.0f / 6, g[2 * sg]));
  out[3 * so] = axpy(1.0f / 12, g[sg], quarter);
  out[4 * so] = axpy(-1.0f / 12, g[sg], quarter);
  out[5 * so] = g[2 * sg];
}

// U = G g G^T of each output channel block and input channel, [freq][block][c][16]
// (u_stride floats from one frequency to the next), from the weight packed in blocks
// ([block][c * 9][16]).
__attribute__((target("avx512f"))) void transform_weight(const FewTapsConv& s, const Tiles& t, const float* packed,
                                                         float* u, int64_t u_stride) {
  for (int64_t b = 0; b < t.blocks; ++b)
    for (int64_t ci = 0; ci < s.c; ++ci) {
      V g[9], r[kIn * 3], f[kFreqs];
      for (int k = 0; k < 9; ++k) g[k] = _mm512_loadu_ps(packed + ((b * s.c + ci) * 9 + k) * kLanes);
      for (int j = 0; j < 3; ++j) weight_rows(g + j, 3, r + j, 3);              // G g: [6][3]
      for (int a = 0; a < kIn; ++a) weight_rows(r + 3 * a, 1, f + kIn * a, 1);  // (G g) G^T
      for (int k = 0; k < kFreqs; ++k) _mm512_storeu_ps(u + k * u_stride + (b * s.c + ci) * kLanes, f[k]);
    }
}

// Channel block cb of one image into the middle of `plane` as positions of 16
// channels ([rows][cols][16]; the channels past c zero), a 16 x 16 block transposed at
// a time. The border, zeroed once, is never written.
__attribute__((target("avx512f"))) void fill_plane(const float* xi, const FewTapsConv& s, const Tiles& t, int64_t cb,
                                                   float* plane) {
  const int64_t channels = std::min<int64_t>(kLanes, s.c - cb * kLanes);
  for (int64_t r = 0; r < s.h; ++r)
    for (int64_t x0 = 0; x0 < s.w; x0 += kLanes) {
      const int64_t n = std::min<int64_t>(kLanes, s.w - x0);
      V v[kLanes];
      for (int l = 0; l < kLanes; ++l) {
        if (l >= channels) {
          v[l] = _mm512_setzero_ps();
          continue;
        }
        const float* row = xi + ((cb * kLanes + l) * s.h + r) * s.w + x0;
        v[l] = n == kLanes ? _mm512_loadu_ps(row) : _mm512_maskz_loadu_ps(first_lanes(n), row);
      }
      transpose16(v);
      float* out = plane + ((s.ph + r) * t.cols + s.pw + x0) * kLanes;
      for (int64_t j = 0; j < n; ++j) _mm512_storeu_ps(out + j * kLanes, v[j]);
    }
}

// Where the input transform writes: the product's rows, [freq][channel][column].
struct Rows {
  float* v;
  int64_t freq_stride, columns;
};

// B^T d B of tile `tile` of one channel block's plane into slot j of `stage`
// ([freq][16 tiles][16 channels]).
__attribute__((target("avx512f"))) void transform_tile(const float* plane, const Tiles& t, int64_t tile, float* stage,
                                                       int64_t j) {
  const int64_t ti = tile / t.tw, tj = tile % t.tw;
  const float* corner = plane + (kOut * ti * t.cols + kOut * tj) * kLanes;
  V d[kFreqs], r[kFreqs], f[kFreqs];
  for (int a = 0; a < kIn; ++a)
    for (int b = 0; b < kIn; ++b) d[kIn * a + b] = _mm512_loadu_ps(corner + (a * t.cols + b) * kLanes);
  for (int b = 0; b < kIn; ++b) input_rows(d + b, kIn, r + b, kIn);          // B^T d
  for (int a = 0; a < kIn; ++a) input_rows(r + kIn * a, 1, f + kIn * a, 1);  // (B^T d) B
  for (int k = 0; k < kFreqs; ++k) _mm512_storeu_ps(stage + (k * kLanes + j) * kLanes, f[k]);
}

// The first n slots of `stage` into the product's rows of channels [c0, c0 + channels)
// from column `column`: each frequency's 16 tiles x 16 channels transposed.
__attribute__((target("avx512f"))) void flush_stage(const float* stage, int64_t n, const Rows& rows, int64_t c0,
                                                    int64_t channels, int64_t column) {
  const __mmask16 tiles = first_lanes(n);
  for (int k = 0; k < kFreqs; ++k) {
    V v[kLanes];
    for (int j = 0; j < kLanes; ++j) v[j] = _mm512_loadu_ps(stage + (k * kLanes + j) * kLanes);
    transpose16(v);
    float* out = rows.v + k * rows.freq_stride + c0 * rows.columns + column;
    for (int64_t l = 0; l < channels; ++l) _mm512_mask_storeu_ps(out + l * rows.columns, tiles, v[l]);
  }
}

// What the output transform writes: one image's NCHW output and what it adds.
struct Out {
  float* y;
  int64_t oc;
  const float* bias;  // null: none
  bool relu;
};

// One tile's 16 outputs of block b (`m`: the tile's 36 products, [freq][16]): A^T M A,
// the bias added and the ReLU applied, y[4 r + c] the output at row r, column c of
// the tile.
__attribute__((target("avx512f"))) void output_tile(const float* m, int64_t b, const Out& o, V* y) {
  V mv[kFreqs], r[kOut * kIn];
  for (int k = 0; k < kFreqs; ++k) mv[k] = _mm512_loadu_ps(m + k * kLanes);
  for (int b2 = 0; b2 < kIn; ++b2) output_rows(mv + b2, kIn, r + b2, kIn);      // A^T M: [4][6]
  for (int a = 0; a < kOut; ++a) output_rows(r + kIn * a, 1, y + kOut * a, 1);  // (A^T M) A: [4][4]
  const V zero = _mm512_setzero_ps();
  const V bias = o.bias ? _mm512_maskz_loadu_ps(first_lanes(o.oc - b * kLanes), o.bias + b * kLanes) : zero;
  for (int k = 0; k < kOut * kOut; ++k) {
    y[k] = add(y[k], bias);
    if (o.relu) y[k] = _mm512_mask_mov_ps(y[k], _mm512_cmp_ps_mask(y[k], zero, _CMP_LT_OQ), zero);
  }
}

// Tiles [j0, j0 + g) (g <= 4) of tile row ti, block b: their outputs put side by side,
// a row of the map (4 g positions) or, for fewer tiles, as many rows as fill 16
// lanes, transposed into one vector a channel, its rows stored. A transpose a tile,
// each channel's four rows stored apart, took 7% longer on SqueezeNet's 15x15 layer
// (4 tiles a row). (With g a template constant it took 20% longer than this.)
__attribute__((target("avx512f"))) void output_tiles(const float* m, const Tiles& t, int64_t b, int64_t ti, int64_t j0,
                                                     int64_t g, const Out& o) {
  V y[kOut][kOut * kOut];
  for (int64_t j = 0; j < g; ++j) output_tile(m + (ti * t.tw + j0 + j) * kFreqs * kLanes, b, o, y[j]);
  const int64_t across = kOut * g, rows_a_transpose = kLanes / across >= kOut ? kOut : kLanes / across >= 2 ? 2 : 1;
  const int64_t plane = t.oh * t.ow, n = std::min<int64_t>(kLanes, o.oc - b * kLanes);
  const int64_t cols = std::min(across, t.ow - kOut * j0);
  for (int64_t a0 = 0; a0 < kOut && kOut * ti + a0 < t.oh; a0 += rows_a_transpose) {
    V r[kLanes];
    for (int k = 0; k < kLanes; ++k) r[k] = _mm512_setzero_ps();
    for (int64_t ra = 0; ra < rows_a_transpose; ++ra)
      for (int64_t j = 0; j < g; ++j)
        for (int c = 0; c < kOut; ++c) r[ra * across + kOut * j + c] = y[j][kOut * (a0 + ra) + c];
    transpose16(r);
    for (int64_t ra = 0; ra < rows_a_transpose && kOut * ti + a0 + ra < t.oh; ++ra) {
      const __mmask16 lanes = bit_range(ra * across, ra * across + cols);
      float* out = o.y + b * kLanes * plane + (kOut * ti + a0 + ra) * t.ow + kOut * j0;
      for (int64_t l = 0; l < n; ++l)
        _mm512_mask_storeu_ps(out + l * plane, first_lanes(cols), _mm512_maskz_compress_ps(lanes, r[l]));
    }
  }
}

bool applies(const FewTapsConv& s) {
  return has_avx512() && s.kh == 3 && s.kw == 3 && s.sh == 1 && s.sw == 1 && s.n > 0 && s.c > 0 && s.oc > 0 &&
         s.oh() > 0 && s.ow() > 0 && s.ph >= 0 && s.pw >= 0;
}

// One thread's images, a batch at a time: the input transform of every channel
// block, then for each group of output blocks the products of every frequency and
// the output transform of every tile.
struct Batches {
  const FewTapsConv& s;
  const Tiles& t;
  const float* x;
  const float* u;  // the transformed weight
  int64_t u_stride;
  const float* bias;
  bool relu;
  float* y;
  int64_t y_image, batch;

  // Channel block cb of images [i0, i0 + n) into the product's rows, the tiles of
  // all of them 16 at a time (a 7x7 map has 4).
  void transform_input(int64_t i0, int64_t n, int64_t cb, const Rows& rows, float* plane, float* stage) const {
    const int64_t channels = std::min<int64_t>(kLanes, s.c - cb * kLanes);
    int64_t staged = 0, column = 0;
    for (int64_t k = 0; k < n; ++k) {
      fill_plane(x + (i0 + k) * s.c * s.h * s.w, s, t, cb, plane);
      for (int64_t tile = 0; tile < t.per_image; ++tile) {
        transform_tile(plane, t, tile, stage, staged++);
        if (staged < kLanes) continue;
        flush_stage(stage, staged, rows, cb * kLanes, channels, column);
        column += staged;
        staged = 0;
      }
    }
    if (staged > 0) flush_stage(stage, staged, rows, cb * kLanes, channels, column);
  }

  void run(Share images) const {
    const int64_t most = std::min(batch, images.end - images.begin) * t.per_image;
    ThreadScratch<float, 5> plane(t.rows * t.cols * kLanes);
    std::fill_n(plane.get(), t.rows * t.cols * kLanes, 0.0f);
    ThreadScratch<float, 6> stage(kFreqs * kLanes * kLanes);
    ThreadScratch<float, 7> v(kFreqs * unaliased(s.c * most));
    ThreadScratch<float, 8> m(kGroupBlocks * most * kFreqs * kLanes);
    for (int64_t i0 = images.begin; i0 < images.end; i0 += batch) {
      const int64_t n = std::min(batch, images.end - i0), columns = n * t.per_image;
      const Rows rows{v.get(), unaliased(s.c * columns), columns};
      for (int64_t cb = 0; cb < t.c_blocks; ++cb) transform_input(i0, n, cb, rows, plane.get(), stage.get());
      for (int64_t b0 = 0; b0 < t.blocks; b0 += kGroupBlocks) {
        // The products of a tile kept together ([block][column][freq][16]): the output
        // transform reads a tile's 36 from 2.3 KiB, where planes a frequency apart put
        // them on 36 pages.
        const int64_t nb = std::min(kGroupBlocks, t.blocks - b0);
        for (int f = 0; f < kFreqs; ++f)
          channel_vectors_product(rows.v + f * rows.freq_stride, s.c, columns, u + f * u_stride + b0 * s.c * kLanes,
                                  std::min(s.oc - b0 * kLanes, nb * kLanes), m.get() + f * kLanes, kFreqs * kLanes);
        for (int64_t k = 0; k < n; ++k) {
          const Out o{y + (i0 + k) * y_image, s.oc, bias, relu};
          for (int64_t bl = 0; bl < nb; ++bl)
            for (int64_t ti = 0; ti < t.th; ++ti)
              for (int64_t j0 = 0; j0 < t.tw; j0 += kOut)
                output_tiles(m.get() + (bl * columns + k * t.per_image) * kFreqs * kLanes, t, b0 + bl, ti, j0,
                             std::min<int64_t>(kOut, t.tw - j0), o);
        }
      }
    }
  }
};

}  // namespace

// Measured against the direct paths (8 images, 1 thread, Zen 5; medians of 200 calls):
// each tile saves multiplies in proportion to c * oc and costs transforms in
// proportion to c + oc, so the harmonic mean of the channel counts decides (16 -> 64
// on 15x15 maps: 146 -> 118 us; 32 -> 128 on 7x7: 126 -> 96; 64 -> 64 on 28x28: 1.93
// -> 0.96 ms; 256 -> 256 on 7x7: 1.94 -> 1.25 ms; but 16 -> 16 on 32x32: 204 -> 211,
// 8 -> 32 on 15x15: 40 -> 52, 3 -> 16: 39 -> 138), and so does the part of the tiles
// that falls inside the map (5x5 maps fill 25 of 64 outputs: 64 -> 64, 73 -> 89 us;
// 3x3 maps 9 of 16: 256 -> 256, 406 -> 613; 4x4 maps all: 64 -> 64, 47 -> 38), and
// the tiles of the call, over which the weight's transform is spread (32 -> 128 on
// 7x7 maps, 4 tiles an image: 4 images 66 -> 53 us, 2 images 35 -> 35; 64 -> 64 on
// 8x8, one image 24 -> 31, two 44 -> 35).
bool conv2d_winograd_pays(const FewTapsConv& s) {
  if (s.kh != 3 || s.kw != 3 || s.sh != 1 || s.sw != 1) return false;
  const int64_t oh = s.oh(), ow = s.ow(), tiles = ((oh + kOut - 1) / kOut) * ((ow + kOut - 1) / kOut);
  return s.c * s.oc >= 12 * (s.c + s.oc) && 4 * oh * ow >= 3 * tiles * kOut * kOut && s.n * tiles >= 8;
}

bool conv2d_winograd_forward(const FewTapsConv& s, const float* x, const float* w, const float* bias, bool relu,
                             float* y, int64_t y_image) {
  if (!applies(s)) return false;
  if (!all_finite(x, s.n * s.c * s.h * s.w) || !all_finite(w, s.oc * s.c * 9)) return false;
  const Tiles t = tiles_of(s);
  if (y_image == 0) y_image = s.oc * t.oh * t.ow;
  // The transformed weight, in this thread's scratch, which the other threads read
  // while the call lasts.
  const int64_t u_stride = unaliased(t.blocks * s.c * kLanes);
  ThreadScratch<float, 9> u(kFreqs * u_stride);
  {
    ThreadScratch<float, 10> packed(t.blocks * s.c * 9 * kLanes);
    pack_channel_blocks(w, s.oc, s.c * 9, packed.get());
    transform_weight(s, t, packed.get(), u.get(), u_stride);
  }
  const Batches batches{s,    t,    x, u.get(), u_stride,
                        bias, relu, y, y_image, std::max<int64_t>(1, kColumns / t.per_image)};
  for_each_thread(s.n * s.oc * t.oh * t.ow * s.c * 9, [&](int th, int nt) { batches.run(thread_share(s.n, th, nt)); });
  return true;
}

}  // namespace aotgrad::ops::cpu
