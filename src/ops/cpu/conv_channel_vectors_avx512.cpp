// Note [Output channels in vectors]: the GEMM paths put output positions in the
// vectors. A row of a 7x7 map fills 7 of 16 lanes, so they multiply the im2col
// matrices of images side by side, and the im2col copy and the panels packed from it
// were 10-15% of SqueezeNet's 3x3 convolutions on 7x7 maps; a 1x1 convolution's k of
// 16-64 leaves its GEMM tiles mostly start and end. ONNX Runtime's kernels keep 16
// output channels in a vector instead, and ran those layers 10-30% faster.
//
// So here: a tile of accumulators, kWidth positions of an output row by kBlocks blocks
// of 16 channels, takes for each tap (channel, kernel row, kernel column: im2col's
// order) its kBlocks weight vectors and broadcasts each position's input float
// against them: no im2col, and every lane useful whatever the map's width. The
// weight is packed once a call into 16-channel blocks ([block][tap][16], channels past
// oc zero), the input padded once an image (a zero border: no tap is ever checked),
// and each finished tile is added its bias, transposed in registers and stored as
// rows of the NCHW output, a ReLU epilogue applied in the store. Each sum runs over
// the taps in im2col's order from 0 and the bias is added last, as the GEMM kernel of
// our own does (sgemm_avx512.cpp): the same floats (BLAS, where a path takes it, may
// sum otherwise). A 1x1 convolution's rows are one long row.
//
// A tile's shape is bounded by its loads more than its FMAs: each weight vector
// loaded serves kWidth positions, and 4 blocks by 4 positions ran 1.6x slower than 2
// by 7 (7x7 maps, 32 -> 128), their weights read from L2; so each thread takes its
// rows a group of blocks at a time, the group's weights staying in L1, and the shape
// is chosen by a cost of FMAs, loads and weight bytes (tile_cost). The tiles run at
// 83-87% of the FMA peak. Maps too narrow for a weight vector to serve five positions
// (3x3: 48 -> 192 channels, 59 against 62-65 us) stay with the GEMM;
// conv2d_channel_vectors_pays has the measurements.
#include "ops/cpu/conv_channel_vectors_avx512.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <utility>
#include <vector>

#include "ops/cpu/conv_implicit.h"
#include "ops/cpu/cpu_features.h"
#include "ops/cpu/lanes_avx512.h"
#include "ops/cpu/thread_scratch.h"
#include "support/parallel.h"

namespace aotgrad::ops::cpu {

// A 16 x 16 block at a time, transposed in registers.
__attribute__((target("avx512f"))) void pack_channel_blocks(const float* w, int64_t oc, int64_t K, float* packed) {
  const int64_t blocks = (oc + kLanes - 1) / kLanes;
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t k0 = 0; k0 < K; k0 += kLanes) {
      // Masked loads only for a row's last, partial vector (they are slow on AMD cores).
      const bool whole = K - k0 >= kLanes;
      const __mmask16 ks = first_lanes(K - k0);
      __m512 r[kLanes];
      for (int l = 0; l < kLanes; ++l) {
        const int64_t o = b * kLanes + l;
        const float* row = w + o * K + k0;
        r[l] = o >= oc ? _mm512_setzero_ps() : whole ? _mm512_loadu_ps(row) : _mm512_maskz_loadu_ps(ks, row);
      }
      transpose16(r);
      const int64_t n = std::min<int64_t>(kLanes, K - k0);
      for (int64_t j = 0; j < n; ++j) _mm512_storeu_ps(packed + ((b * K) + k0 + j) * kLanes, r[j]);
    }
}

namespace {

// Where the taps read: the input image (padded, or as it is), its planes and rows.
struct Source {
  int64_t plane, row;  // floats from one channel to the next, one input row to the next
  int64_t step;        // floats from one output position's taps to the next one's
  int64_t oh, ow;      // output rows and positions a row (a 1x1 map's rows merged: one row)
  bool padded;         // the image is copied into a zero-bordered one first
};

Source source_of(const FewTapsConv& s) {
  const bool merged = s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0;
  if (merged) return {s.h * s.w, 0, 1, 1, s.h * s.w, false};
  const bool padded = s.ph > 0 || s.pw > 0;
  const int64_t hp = s.h + 2 * s.ph, wp = s.w + 2 * s.pw;
  return {hp * wp, wp, s.sw, s.oh(), s.ow(), padded};
}

// The image's channels with a zero border of (ph, pw), [c][hp][wp], as the implicit
// GEMM pads its images (Note [Padding in vectors] in conv_implicit.cpp).
void pad_image(const FewTapsConv& s, const float* x, float* xp) {
  pad_planes(x, 0, s.c, s.h, s.w, s.ph, s.pw, xp);
}

// Where a tile's results go, and what is added on the way: rows of an NCHW output
// (each block's vectors transposed), or with `nan_lanes`, an output in 16-channel blocks
// ([block][position][16]: the vectors stored as they are).
struct Store {
  float* y;           // the tile's first position, in its first block (channel 0 of it)
  int64_t plane;      // floats between output channels (blocked: between blocks)
  int64_t oc_left;    // channels from the tile's first block to the last channel
  const float* bias;  // at the tile's first channel; null: none
  bool relu;
  __mmask16* nan_lanes = nullptr;  // blocked output: gains the lanes where a NaN was stored
};

// Block b's vectors, one a position.
template <int kWidth>
__attribute__((target("avx512f"), always_inline)) inline void store_block(const __m512* v, int b, const Store& st) {
  const __m512 zero = _mm512_setzero_ps();
  const __mmask16 channels = first_lanes(st.oc_left - b * kLanes);
  const __m512 bias = st.bias ? _mm512_maskz_loadu_ps(channels, st.bias + b * kLanes) : zero;
  __m512 r[kLanes];
  for (int p = 0; p < kLanes; ++p) {
    r[p] = p < kWidth ? _mm512_add_ps(v[p], bias) : zero;
    if (st.relu) r[p] = _mm512_mask_mov_ps(r[p], _mm512_cmp_ps_mask(r[p], zero, _CMP_LT_OQ), zero);
  }
  if (st.nan_lanes != nullptr) {  // a blocked output
    __mmask16 nan = 0;
    for (int p = 0; p < kWidth; ++p) {
      _mm512_storeu_ps(st.y + b * st.plane + p * kLanes, r[p]);
      nan |= _mm512_cmp_ps_mask(r[p], r[p], _CMP_UNORD_Q);
    }
    *st.nan_lanes |= nan;
    return;
  }
  transpose16(r);
  const int64_t n = std::min<int64_t>(kLanes, st.oc_left - b * kLanes);
  for (int64_t l = 0; l < n; ++l) _mm512_mask_storeu_ps(st.y + (b * kLanes + l) * st.plane, first_lanes(kWidth), r[l]);
}

// One tile: kWidth positions of an output row by kBlocks channel blocks. A step of
// kStep floats from one position's inputs to the next (stride 1 or 2; 0: the source's
// step, in a register) makes the broadcasts' addresses immediate offsets of one
// register: with the step in a register they were a chain of additions a tap, and
// SqueezeNet's 3x3 convolution on 15x15 maps took 7% longer.
template <int kWidth, int kBlocks, int kStep>
__attribute__((target("avx512f"))) void tile(const float* x, const Source& src, const int64_t* tap_offsets,
                                             int64_t taps, int64_t c, const float* w, int64_t w_block,
                                             const Store& st) {
  __m512 acc[kBlocks][kWidth];
  for (int b = 0; b < kBlocks; ++b)
    for (int p = 0; p < kWidth; ++p) acc[b][p] = _mm512_setzero_ps();
  const int64_t step = kStep > 0 ? kStep : src.step;
  for (int64_t ci = 0; ci < c; ++ci) {
    const float* xc = x + ci * src.plane;
    for (int64_t t = 0; t < taps; ++t, w += kLanes) {
      const float* xt = xc + tap_offsets[t];
      __m512 wv[kBlocks];
      for (int b = 0; b < kBlocks; ++b) wv[b] = _mm512_loadu_ps(w + b * w_block);
      for (int p = 0; p < kWidth; ++p) {
        const __m512 xv = _mm512_set1_ps(xt[p * step]);
        for (int b = 0; b < kBlocks; ++b) acc[b][p] = _mm512_fmadd_ps(xv, wv[b], acc[b][p]);
      }
    }
  }
  for (int b = 0; b < kBlocks; ++b) store_block<kWidth>(acc[b], b, st);
}

using TileFn = void (*)(const float*, const Source&, const int64_t*, int64_t, int64_t, const float*, int64_t,
                        const Store&);

// The widest tile of `blocks` blocks: its accumulators, a weight vector a block and
// the broadcast held in the 32 zmm registers (one more and an accumulator is spilled
// every tap).
constexpr int max_width(int blocks) {
  return std::min(kLanes, (31 - blocks) / blocks);
}

// The tiles of every shape: [step (0: another)][blocks - 1][width - 1] (null: too wide).
template <int kBlocks, int kStep, int... kWidths>
std::array<TileFn, kLanes> tiles_of(std::integer_sequence<int, kWidths...>) {
  std::array<TileFn, kLanes> fns{};
  ((fns[kWidths] =
        kWidths < max_width(kBlocks) ? &tile<std::min(kWidths + 1, max_width(kBlocks)), kBlocks, kStep> : nullptr),
   ...);
  return fns;
}
template <int kStep>
std::array<std::array<TileFn, kLanes>, 4> tile_table() {
  const auto widths = std::make_integer_sequence<int, kLanes>{};
  return {tiles_of<1, kStep>(widths), tiles_of<2, kStep>(widths), tiles_of<3, kStep>(widths),
          tiles_of<4, kStep>(widths)};
}
const std::array<std::array<std::array<TileFn, kLanes>, 4>, 3> kTiles = {tile_table<0>(), tile_table<1>(),
                                                                         tile_table<2>()};

// channel_vectors_product's tile: one tap, its sums stored as they are (no bias, no
// epilogue, no NaN note) straight from the registers. With 16 channels to sum
// (Winograd's products for SqueezeNet's 15x15 layers) a third of `tile`'s time was
// outside its loop, in store_block.
template <int kWidth, int kBlocks>
__attribute__((target("avx512f"))) void product_tile(const float* x, int64_t plane, int64_t c, const float* w,
                                                     int64_t w_block, float* y, int64_t y_step) {
  const int64_t y_block = plane * y_step;
  __m512 acc[kBlocks][kWidth];
  for (int b = 0; b < kBlocks; ++b)
    for (int p = 0; p < kWidth; ++p) acc[b][p] = _mm512_setzero_ps();
  for (int64_t ci = 0; ci < c; ++ci, w += kLanes) {
    const float* xc = x + ci * plane;
    __m512 wv[kBlocks];
    for (int b = 0; b < kBlocks; ++b) wv[b] = _mm512_loadu_ps(w + b * w_block);
    for (int p = 0; p < kWidth; ++p) {
      const __m512 xv = _mm512_set1_ps(xc[p]);
      for (int b = 0; b < kBlocks; ++b) acc[b][p] = _mm512_fmadd_ps(xv, wv[b], acc[b][p]);
    }
  }
  for (int b = 0; b < kBlocks; ++b)
    for (int p = 0; p < kWidth; ++p) _mm512_storeu_ps(y + b * y_block + p * y_step, acc[b][p]);
}

using ProductFn = void (*)(const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t);

template <int kBlocks, int... kWidths>
std::array<ProductFn, kLanes> products_of(std::integer_sequence<int, kWidths...>) {
  std::array<ProductFn, kLanes> fns{};
  ((fns[kWidths] =
        kWidths < max_width(kBlocks) ? &product_tile<std::min(kWidths + 1, max_width(kBlocks)), kBlocks> : nullptr),
   ...);
  return fns;
}
const auto kWidths = std::make_integer_sequence<int, kLanes>{};
const std::array<std::array<ProductFn, kLanes>, 4> kProducts = {products_of<1>(kWidths), products_of<2>(kWidths),
                                                                products_of<3>(kWidths), products_of<4>(kWidths)};

// How many tiles a row of `ow` positions takes, `blocks` blocks each: the positions
// split evenly (15 over two tiles: 8 and 7, not 14 and 1).
int64_t tiles_a_row(int blocks, int64_t ow) {
  return (ow + max_width(blocks) - 1) / max_width(blocks);
}
int64_t tile_width(int64_t ow, int64_t tiles, int64_t i) {
  return ow / tiles + (i < ow % tiles ? 1 : 0);
}

// A tile's cost each tap, in half cycles: its FMAs (two a cycle), its loads (a weight
// vector a block, a broadcast a position; measured as about 1.5 FMAs each) and its
// weight vectors from L2 (about 16 bytes a cycle: tiles of 4 blocks by 4 and 3
// positions took 1.6x the time of 2 by 7 on 7x7 maps, 32 -> 128).
int64_t tile_cost(int64_t blocks, int64_t width) {
  return std::max({2 * blocks * width, 3 * (blocks + width), 16 * blocks});
}

// The blocks a tile takes for rows of `ow` positions: the least cost a block.
int least_cost_blocks(int64_t ow) {
  int best = 0;
  int64_t best_cost = 0;
  for (int b = 1; b <= 4; ++b) {
    const int64_t tiles = tiles_a_row(b, ow);
    int64_t cost = 0;
    for (int64_t i = 0; i < tiles; ++i) cost += tile_cost(b, tile_width(ow, tiles, i));
    cost = cost * 12 / b;  // a block's (12: every block count divides it)
    if (best == 0 || cost < best_cost) best = b, best_cost = cost;
  }
  return best;
}

// The same, looked up for the rows most calls have (Winograd's products ask 36 times
// a call, and the search was 3% of them).
int blocks_for(int64_t ow) {
  constexpr int64_t kKnown = 512;
  static const std::array<int, kKnown> known = [] {
    std::array<int, kKnown> blocks{};
    for (int64_t w = 1; w < kKnown; ++w) blocks[static_cast<size_t>(w)] = least_cost_blocks(w);
    return blocks;
  }();
  return ow > 0 && ow < kKnown ? known[static_cast<size_t>(ow)] : least_cost_blocks(ow);
}

// The weight packed and the taps' offsets: what every image of a call shares.
struct Plan {
  FewTapsConv s;
  Source src;
  int64_t K, blocks;
  int per_tile;  // blocks a tile
  std::vector<int64_t> tap_offsets;
  const float* packed;
};

Plan plan_of(const FewTapsConv& s, const float* packed) {
  const Source src = source_of(s);
  Plan p{s, src, s.c * s.kh * s.kw, (s.oc + kLanes - 1) / kLanes, blocks_for(src.ow), {}, packed};
  for (int64_t ki = 0; ki < s.kh; ++ki)
    for (int64_t kj = 0; kj < s.kw; ++kj) p.tap_offsets.push_back(ki * src.row + kj);
  return p;
}

// Output row oy of one image (its input xi, padded if the plan pads), channel blocks
// [b0, b0 + blocks), into the image's NCHW output yi or its blocked one.
void convolve_row(const Plan& p, const float* xi, int64_t b0, int blocks, int64_t oy, const float* bias, bool relu,
                  float* yi, __mmask16* nan_lanes = nullptr) {
  const bool blocked = nan_lanes != nullptr;
  const Source& src = p.src;
  const int64_t out_plane = src.oh * src.ow, tiles = tiles_a_row(blocks, src.ow);
  const auto& table =
      kTiles[src.step == 1 || src.step == 2 ? static_cast<size_t>(src.step) : 0][static_cast<size_t>(blocks - 1)];
  for (int64_t i = 0, ox0 = 0; i < tiles; ++i) {
    const int64_t width = tile_width(src.ow, tiles, i), at = oy * src.ow + ox0;
    const Store st{blocked ? yi + (b0 * out_plane + at) * kLanes : yi + b0 * kLanes * out_plane + at,
                   blocked ? out_plane * kLanes : out_plane,
                   p.s.oc - b0 * kLanes,
                   bias ? bias + b0 * kLanes : nullptr,
                   relu,
                   nan_lanes};
    const float* x = xi + oy * p.s.sh * src.row + ox0 * src.step;
    table[static_cast<size_t>(width - 1)](x, src, p.tap_offsets.data(), p.s.kh * p.s.kw, p.s.c,
                                          p.packed + b0 * p.K * kLanes, p.K * kLanes, st);
    ox0 += width;
  }
}

// The weight packed into `out`, which it returns.
const float* packed_weight(const FewTapsConv& s, const float* w, float* out) {
  pack_channel_blocks(w, s.oc, s.c * s.kh * s.kw, out);
  return out;
}

// A call's plan, its weight packed into this thread's scratch (which the other threads
// read while the call lasts).
struct PackedConv {
  PackedConv(const FewTapsConv& s, const float* w)
      : scratch((s.oc + kLanes - 1) / kLanes * s.c * s.kh * s.kw * kLanes),
        plan(plan_of(s, packed_weight(s, w, scratch.get()))) {}
  ThreadScratch<float, 2> scratch;
  const Plan plan;
};

bool applies(const FewTapsConv& s) {
  return has_avx512() && s.n > 0 && s.oc > 0 && s.c > 0 && s.oh() > 0 && s.ow() > 0;
}

}  // namespace

// Measured against the GEMM paths (8 images, 1 thread, Zen 5; Note [Output channels
// in vectors]): a spatial kernel wins wherever its rows give a weight vector five
// positions or more (7x7 maps, 32 -> 128: 134 -> 124 us; 16x16 at stride 2, 32 -> 32:
// 102 -> 47; 56x56: 2.00 -> 1.95 ms) and loses on 3x3 maps, where each weight vector
// loaded serves three positions (48 -> 192: 58 -> 136 us). A 1x1 convolution (its rows
// merged into one) wins with few output channels, whole blocks of them, and many input
// channels (256 -> 32 on 7x7 maps: 36 -> 26 us; 512 -> 64 on 3x3: 26 -> 22; 144 -> 48
// on 4x4: 9.5 -> 8.7) and loses with a block partly empty (240 -> 40 on 4x4: 12.9 ->
// 13.9; 88 -> 24 on 8x8: 11.9 -> 12.4), many output channels on few positions (192 ->
// 1024 on 2x2: 54 -> 92), few input channels (24 -> 24 on 32x32: 70 -> 91) and large
// maps (64 -> 16 on 31x31: 80 -> 86).
bool conv2d_channel_vectors_pays(const FewTapsConv& s) {
  const bool spatial = s.kh * s.kw > 1;
  if (spatial) return s.c * s.kh * s.kw >= 64 && s.ow() >= 5;
  const bool merged = s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0;
  return merged && s.oc <= 64 && s.oc % kLanes == 0 && s.c >= 32 && s.oh() * s.ow() < 256;
}

bool conv2d_channel_vectors_forward(const FewTapsConv& s, const float* x, const float* w, const float* bias, bool relu,
                                    float* y, int64_t y_image) {
  if (!applies(s)) return false;
  const PackedConv conv(s, w);
  const Plan& plan = conv.plan;
  const Source& src = plan.src;
  const int64_t K = plan.K, blocks = plan.blocks;
  if (y_image == 0) y_image = s.oc * s.oh() * s.ow();
  const int64_t rows = s.n * src.oh;
  // Each thread pads the images of its share of the rows first, then takes its rows a
  // group of channel blocks at a time: the group's packed weights (18-36 KiB for
  // SqueezeNet's 3x3 layers) stay in L1 over the rows, where a row at a time over
  // every group read them all from L2 each row (Note [Output channels in vectors]).
  for_each_thread(rows * s.oc * src.ow * K, [&](int t, int nt) {
    const Share share = thread_share(rows, t, nt);
    if (share.begin >= share.end) return;
    const int64_t first = share.begin / src.oh, images = (share.end - 1) / src.oh - first + 1;
    ThreadScratch<float, 3> padded(src.padded ? images * s.c * src.plane : 0);
    auto image_at = [&](int64_t i) -> const float* {
      return src.padded ? padded.get() + (i - first) * s.c * src.plane : x + i * s.c * s.h * s.w;
    };
    if (src.padded)
      for (int64_t i = 0; i < images; ++i)
        pad_image(s, x + (first + i) * s.c * s.h * s.w, padded.get() + i * s.c * src.plane);
    for (int64_t b0 = 0; b0 < blocks; b0 += plan.per_tile) {
      const int n = static_cast<int>(std::min<int64_t>(plan.per_tile, blocks - b0));
      for (int64_t r = share.begin; r < share.end; ++r) {
        const int64_t i = r / src.oh;
        convolve_row(plan, image_at(i), b0, n, r % src.oh, bias, relu, y + i * y_image);
      }
    }
  });
  return true;
}

bool conv2d_channel_blocks_each_image(const FewTapsConv& s, const float* x, const float* w, const float* bias,
                                      bool relu, const std::function<void(int64_t, const float*, bool)>& then) {
  if (!applies(s)) return false;
  const PackedConv conv(s, w);
  const Plan& plan = conv.plan;
  const Source& src = plan.src;
  const int64_t K = plan.K, blocks = plan.blocks;
  for_each_thread(s.n * s.oc * src.oh * src.ow * K, [&](int t, int nt) {
    const Share images = thread_share(s.n, t, nt);
    ThreadScratch<float, 3> padded(src.padded ? s.c * src.plane : 0);
    ThreadScratch<float, 4> out(blocks * src.oh * src.ow * kLanes);
    for (int64_t i = images.begin; i < images.end; ++i) {
      const float* xi = x + i * s.c * s.h * s.w;
      if (src.padded) {
        pad_image(s, xi, padded.get());
        xi = padded.get();
      }
      __mmask16 nan = 0;
      for (int64_t b0 = 0; b0 < blocks; b0 += plan.per_tile) {
        const int n = static_cast<int>(std::min<int64_t>(plan.per_tile, blocks - b0));
        for (int64_t oy = 0; oy < src.oh; ++oy) convolve_row(plan, xi, b0, n, oy, bias, relu, out.get(), &nan);
      }
      then(i, out.get(), nan != 0);
    }
  });
  return true;
}

void channel_vectors_product(const float* x, int64_t c, int64_t positions, const float* packed, int64_t oc, float* y,
                             int64_t y_step) {
  if (!has_avx512() || c <= 0 || positions <= 0 || oc <= 0) return;
  const int64_t blocks = (oc + kLanes - 1) / kLanes, w_block = c * kLanes;
  const int per_tile = blocks_for(positions);
  for (int64_t b0 = 0; b0 < blocks; b0 += per_tile) {
    const int n = static_cast<int>(std::min<int64_t>(per_tile, blocks - b0));
    const int64_t tiles = tiles_a_row(n, positions);
    for (int64_t i = 0, p0 = 0; i < tiles; ++i) {
      const int64_t width = tile_width(positions, tiles, i);
      kProducts[static_cast<size_t>(n - 1)][static_cast<size_t>(width - 1)](
          x + p0, positions, c, packed + b0 * w_block, w_block, y + (b0 * positions + p0) * y_step, y_step);
      p0 += width;
    }
  }
}

}  // namespace aotgrad::ops::cpu
