// Single-precision GEMM with AVX-512 for the products a training step is made of:
// see sgemm_avx512.h.
//
// Note [An AVX-512 kernel of our own]
// OpenBLAS picks its kernels by CPU type, and the environment may pin that type
// (these machines set OPENBLAS_CORETYPE=Haswell: AVX2 kernels on an AVX-512 CPU).
// On this CPU an AVX-512 kernel runs the transformer block's products about 1.8x
// faster. This one is deliberately simple: C is computed in 8 x 32 tiles, each
// accumulated in 16 zmm registers over the whole k loop, with A's elements
// broadcast straight from memory (any layout) and B read as 32-float rows: straight
// from memory when B is row-major, else from a panel packed once per 32 columns.
// A k too long for a panel to stay in L2 is summed in chunks. Everything goes to
// OpenBLAS when the CPU lacks AVX-512.
#include "ops/cpu/sgemm_avx512.h"

#include "ops/cpu/cpu_features.h"
#include "ops/cpu/lanes_avx512.h"
#include "ops/cpu/thread_scratch.h"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <type_traits>
#include <utility>
#include <vector>

namespace aotgrad::ops::cpu {

namespace {
constexpr int kRows = 8;         // rows of C per tile
constexpr int kCols = 32;        // columns of C per tile: two zmm registers
constexpr int kWideCols = 48;    // a product's last tile, when its columns are 33-48
constexpr int64_t kMaxK = 2048;  // B panels of kMaxK x 32 floats stay in L2

// Note [Columns in segments]: a product whose columns are not C's own columns
// (ColumnSegments in sgemm_avx512.h) stores each vector of a tile row as the masked
// stores of its lanes' segments: lanes of one segment keep their places, so one
// segment is one masked store at the segment's address shifted back by the lane of
// its first column. The table is the same for every row block of a panel, and made
// once a panel. It replaces a wide product and a pass copying it out (an implicit-GEMM
// convolution's dropped columns, a product over images side by side scattered back to
// NCHW): that pass was 10% of squeezenet's 3x3 convolutions on 15x15 maps.
struct VectorSegments {
  int count = 0;           // at most one segment a lane
  int64_t offset[kLanes];  // from the row's start to where lane 0 would go
  __mmask16 lanes[kLanes];
};
struct PanelSegments {
  VectorSegments vectors[3];  // up to kWideCols / 16
};

// Where a tile reads B's row p: b + p * ldb, or with `rows`, rows[p] + ldb (the
// gathered lines of an implicit-GEMM convolution, read where they are).
struct TileB {
  const float* b;
  int64_t ldb;
  const float* const* rows;
  // Whether a row may be read as whole vectors past the tile's columns: a packed
  // panel (rows of kCols floats), or gathered rows (kGatheredRowSlack). Masked loads
  // ran products with a partial last tile 2-3x slower on Zen 4 (8 x 1024 x 576 NT:
  // 21 against 56 GFLOP/s).
  bool padded = false;
  // Gathered rows: from one vector's B columns to the next's, 16 floats, or in row
  // tiles an output row apart (Note [Row tiles]).
  int64_t vstride = 16;
  // With segments (Note [Columns in segments]): where each of the tile's vectors is
  // stored, the bias of its first row, and whether values below zero are stored as
  // zero (ColumnSegments::relu).
  const PanelSegments* segments = nullptr;
  const float* bias = nullptr;
  bool relu = false;
};

// A tile's rows stored through its panel's segments (Note [Columns in segments]), each
// plus its bias, and with relu, below zero as zero (`x < 0 ? 0 : x`: NaN stays NaN).
template <int MR, int NV>
__attribute__((target("avx512f"), always_inline)) inline void store_segments(const __m512 (&acc)[MR][NV], __m512 va,
                                                                             const TileB& tb, float* c, int64_t ldc) {
  const __m512 zero = _mm512_setzero_ps();
  for (int i = 0; i < MR; ++i) {
    const __m512 bias = _mm512_set1_ps(tb.bias != nullptr ? tb.bias[i] : 0.0f);
    for (int v = 0; v < NV; ++v) {
      __m512 r = _mm512_add_ps(_mm512_mul_ps(acc[i][v], va), bias);
      if (tb.relu) r = _mm512_mask_mov_ps(r, _mm512_cmp_ps_mask(r, zero, _CMP_LT_OQ), zero);
      const VectorSegments& segs = tb.segments->vectors[v];
      for (int s = 0; s < segs.count; ++s) _mm512_mask_storeu_ps(c + i * ldc + segs.offset[s], segs.lanes[s], r);
    }
  }
}

// C[0:MR, 0:16*NV] (masked to `cols`) = alpha * A[0:MR, :] B[:, 0:16*NV] + beta * C.
// a(i, p) = a[i * ra + p * ca]; B's rows are where TileB says (GatheredB: from its
// `rows`). Full tiles use plain loads (masked ones are slower on some CPUs).
template <int MR, int NV, bool Full, bool TransC, bool GatheredB>
__attribute__((target("avx512f"))) void tile(int64_t k, float alpha, const float* a, int64_t ra, int64_t ca,
                                             const TileB& tb, float beta, float* c, int64_t ldc, int cols) {
  const float* const b = tb.b;
  const int64_t ldb = tb.ldb;
  __m512 acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  __mmask16 mask[NV];
  for (int v = 0; v < NV; ++v) mask[v] = first_lanes(cols - 16 * v);
  for (int64_t p = 0; p < k; ++p) {
    const float* brow = GatheredB ? tb.rows[p] + ldb : b + p * ldb;
    __m512 bv[NV];
    for (int v = 0; v < NV; ++v)
      bv[v] = Full || tb.padded ? _mm512_loadu_ps(brow + (GatheredB ? tb.vstride : 16) * v)
                                : _mm512_maskz_loadu_ps(mask[v], brow + (GatheredB ? tb.vstride : 16) * v);
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(a[p * ca + i * ra]);
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
  }
  const __m512 va = _mm512_set1_ps(alpha);
  if constexpr (!TransC) {
    if (tb.segments != nullptr) return store_segments<MR, NV>(acc, va, tb, c, ldc);
  }
  if constexpr (TransC) {
    // The tile is of Cᵀ: element (i, j) goes to c[j * ldc + i].
    alignas(64) float out[MR][16 * NV];
    for (int i = 0; i < MR; ++i)
      for (int v = 0; v < NV; ++v) _mm512_store_ps(&out[i][16 * v], _mm512_mul_ps(acc[i][v], va));
    for (int j = 0; j < cols; ++j)
      for (int i = 0; i < MR; ++i) {
        float& dst = c[j * ldc + i];
        dst = beta != 0.0f ? out[i][j] + beta * dst : out[i][j];
      }
    return;
  }
  const __m512 vb = _mm512_set1_ps(beta);
  for (int i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    for (int v = 0; v < NV; ++v) {
      __m512 r = _mm512_mul_ps(acc[i][v], va);
      if (beta != 0.0f)
        r = _mm512_fmadd_ps(Full ? _mm512_loadu_ps(ci + 16 * v) : _mm512_maskz_loadu_ps(mask[v], ci + 16 * v), vb, r);
      if (Full)
        _mm512_storeu_ps(ci + 16 * v, r);
      else
        _mm512_mask_storeu_ps(ci + 16 * v, mask[v], r);
    }
  }
}

using TileFn = void (*)(int64_t, float, const float*, int64_t, int64_t, const TileB&, float, float*, int64_t, int);
template <int NV, bool Full, bool TransC, bool GatheredB>
constexpr TileFn kTiles[kRows + 1] = {nullptr,
                                      tile<1, NV, Full, TransC, GatheredB>,
                                      tile<2, NV, Full, TransC, GatheredB>,
                                      tile<3, NV, Full, TransC, GatheredB>,
                                      tile<4, NV, Full, TransC, GatheredB>,
                                      tile<5, NV, Full, TransC, GatheredB>,
                                      tile<6, NV, Full, TransC, GatheredB>,
                                      tile<7, NV, Full, TransC, GatheredB>,
                                      tile<8, NV, Full, TransC, GatheredB>};
// The tile for `rows` rows and `cols` (1-48) columns: 32 columns in two vectors a
// row, 16 or fewer in one, 33-48 in three (Note [A wide last tile]). A product's last
// columns are often few: a convolution on 3x3 maps over 8 images has n = 72, and
// computing its last 8 columns as 32 made a third of the work of squeezenet's largest
// products padding.
template <bool TransC, bool GatheredB>
TileFn tile_of(int cols, int rows) {
  if (cols > kCols)
    return (cols == kWideCols ? kTiles<3, true, TransC, GatheredB> : kTiles<3, false, TransC, GatheredB>)[rows];
  if (cols == kCols) return kTiles<2, true, TransC, GatheredB>[rows];
  if (cols == 16) return kTiles<1, true, TransC, GatheredB>[rows];
  return (cols < 16 ? kTiles<1, false, TransC, GatheredB> : kTiles<2, false, TransC, GatheredB>)[rows];
}
template <bool GatheredB>
TileFn tile_for(bool trans_c, int cols, int rows) {
  return trans_c ? tile_of<true, GatheredB>(cols, rows) : tile_of<false, GatheredB>(cols, rows);
}

// Where B's stored lines are: its rows (op(B) = B) or its columns (op(B) = Bᵀ, B
// stored [n, k]). A strided matrix has line q at b + q * ldb; a gathered one (an
// implicit-GEMM convolution's shifted input rows) at rows[q] + offset.
struct StridedLines {
  const float* b;
  int64_t ldb;
  const float* line(int64_t q) const { return b + q * ldb; }
};
struct GatheredLines {
  const float* const* rows;
  int64_t offset;
  int64_t row_pitch = 0;  // row tiles (Note [Row tiles]): the floats between output rows
  const float* line(int64_t q) const { return rows[q] + offset; }
};

// B's rows as images side by side (Note [Images packed from where they are]): row q
// of image i is the `images.period` floats at x + i * images.stride + q * period.
struct ImageLines {
  const float* x;
  ColumnSegments images;
  const float* line(int64_t q) const { return x + q * images.period; }
};

// panel[p][0:width] = columns j0.. of B's row p, for p < k (`cols` of them; the rest
// zero). Vector copies: a call to memcpy per 128-byte row cost more than the copy.
template <typename Lines>
__attribute__((target("avx512f"))) void pack_rows(const Lines& b, int64_t j0, int64_t k, int cols, int width,
                                                  float* panel) {
  __mmask16 lanes[kWideCols / 16];
  for (int v = 0; v < width / 16; ++v) lanes[v] = first_lanes(cols - 16 * v);
  for (int64_t p = 0; p < k; ++p) {
    const float* src = b.line(p) + j0;
    for (int v = 0; v < width / 16; ++v)
      _mm512_storeu_ps(panel + p * width + 16 * v, _mm512_maskz_loadu_ps(lanes[v], src + 16 * v));
  }
}

// panel[p][j] = line(j0 + j)[p] for j < cols (B stored [n, k]), in 16 x 16 blocks
// transposed in registers.
template <typename Lines>
__attribute__((target("avx512f"))) void pack_columns(const Lines& b, int64_t j0, int64_t k, int cols, int width,
                                                     float* panel) {
  for (int64_t p0 = 0; p0 < k; p0 += 16) {
    const __mmask16 along = first_lanes(k - p0);
    const int64_t np = std::min<int64_t>(16, k - p0);
    for (int half = 0; half < width / 16; ++half) {
      __m512 r[16];
      for (int jj = 0; jj < 16; ++jj) {
        const int j = 16 * half + jj;
        r[jj] = j < cols ? _mm512_maskz_loadu_ps(along, b.line(j0 + j) + p0) : _mm512_setzero_ps();
      }
      transpose16(r);
      for (int64_t pp = 0; pp < np; ++pp) _mm512_storeu_ps(panel + (p0 + pp) * width + 16 * half, r[pp]);
    }
  }
}

// Note [Images packed from where they are]: a 1x1 convolution over small maps takes
// its images side by side as one product (Note [One product per chunk of images] in
// conv.cpp), and copying them side by side first, only for the GEMM to copy them
// again into its panels, was a fifth of the layer (256 -> 32 on 8 maps of 7x7). The
// panel is packed from the images where they are instead: each vector of a panel row
// is the masked loads of its lanes' images, the same table of segments the stores use
// (panel_segments), made once a panel.
__attribute__((target("avx512f"))) void pack_image_rows(const ImageLines& b, const PanelSegments& segs, int64_t k,
                                                        int width, float* panel) {
  for (int64_t p = 0; p < k; ++p) {
    const float* row = b.line(p);
    for (int v = 0; v < width / 16; ++v) {
      const VectorSegments& vs = segs.vectors[v];
      __m512 r = _mm512_setzero_ps();
      for (int s = 0; s < vs.count; ++s) r = _mm512_mask_loadu_ps(r, vs.lanes[s], row + vs.offset[s]);
      _mm512_storeu_ps(panel + p * width + 16 * v, r);
    }
  }
}

// op(A) as the tiles read it: a(i, p) = a[i * ra + p * ca] (row-major A: ra = lda,
// ca = 1; transposed: ra = 1, ca = lda).
struct StridedA {
  const float* a;
  int64_t ra, ca;
};

// Note [A wide last tile]: a product's last columns are often few (n = 72 for a
// convolution on 3x3 maps of 8 images, 392 on 7x7), and a tile of 16 or fewer columns
// (one vector a row) ran far below the FMA's throughput: the last 8 columns of
// 1000 x 72 x 512 (squeezenet's classifier) took 130 us against 320 for the first 64
// (Zen 5). When the columns left are 33-48, they are one tile of three vectors a row
// instead: 40 columns at the cost of 48, which the 32-column tiles compute at full speed
// (and where A's rows run along k, 33-36 are 32 and dot products: Note [The last few
// columns as dot products]). Where `left` columns remain, the next tile's width.
int64_t last_tile_columns(int64_t left) {
  return left > kCols && left <= kWideCols ? left : std::min<int64_t>(kCols, left);
}

// The segments of the columns [j0, j0 + cols) of a product stored through `to`.
PanelSegments panel_segments(const ColumnSegments& to, int64_t j0, int64_t cols) {
  PanelSegments segs;
  for (int v = 0; v * 16 < cols; ++v) {
    VectorSegments& vs = segs.vectors[v];
    const int64_t first = j0 + 16 * v, last = std::min(j0 + cols, first + 16);  // the vector's columns
    for (int64_t seg = first / to.period; seg * to.period < last; ++seg) {
      const int64_t lo = std::max(first, seg * to.period), hi = std::min(last, seg * to.period + to.kept);
      if (lo >= hi) continue;  // the vector holds only dropped columns of this segment
      vs.offset[vs.count] = seg * to.stride + (first - seg * to.period);
      vs.lanes[vs.count++] = bit_range(lo - first, hi - first);
    }
  }
  return segs;
}

// Note [Few rows against a transposed B]: a classifier on a small batch multiplies
// 8 x 1024 by a 1000 x 1024 weight transposed (NT): each element of C is the dot
// product of a row of A and a row of the weight, both contiguous along k. The tiles
// would pack the whole weight, or compute Cᵀ broadcasting it one float at a time;
// here each weight row is read once, 16 floats a load, against every row of A: up to
// kDotRows rows of A by kDotCols weight rows accumulate in 24 vectors, each summed
// across its lanes at the end (mobilenet_v3_small's two classifier products took an
// eighth of its forward).
//   A's rows are first copied into one interleaved run, [k / 16][row][16] with zeros
// past k: a step's 8 vectors of A are then 512 contiguous bytes instead of 8 lines
// a row apart (k floats: 4 KiB at k = 1024, so all in one L1 set), and the loads run
// in order for the prefetcher. And each vector of A is loaded once into a register
// (in_register): g++ otherwise folds the load into each of its kDotCols FMAs, 27
// loads a step for 24 FMAs, and the kernel ran at 90-100 GFLOP/s with everything in
// L1. And while a block reads its kDotCols weight rows, it asks for the next block's
// lines at the same k (a prefetch past the weight's end is harmless: it never
// faults): in a model the weight comes from memory, the other layers having pushed it
// out of the caches, and three streams 4 KiB apart, each only k floats long, are too
// short for the hardware prefetcher to get ahead. Measured on Zen 5: alone (8 x 1024
// by 1000 x 1024), 164 us before, 75 with the weight in L3 (219 GFLOP/s) and 180
// with the caches flushed (253 without the prefetch); in mobilenet_v3_small's forward
// (`bench --onnx ... --forward --profile --threads 1`), its two products 182 + 110 us
// before, 100 + 52 after.
constexpr int kDotRows = 8, kDotCols = 3;
// The interleaved rows' scratch slot: no kernel that calls a GEMM holds this one.
constexpr int kFewRowsScratch = 11;

// The rows of A in steps of 16 floats, [step][row][16], zeros past k.
void interleave_rows(int rows, int64_t k, const float* a, int64_t lda, float* packed) {
  const int64_t steps = (k + kLanes - 1) / kLanes;
  for (int64_t s = 0; s < steps; ++s)
    for (int i = 0; i < rows; ++i) {
      float* to = packed + (s * rows + i) * kLanes;
      const int64_t p0 = s * kLanes, n = std::min<int64_t>(kLanes, k - p0);
      std::copy_n(a + i * lda + p0, n, to);
      std::fill(to + n, to + kLanes, 0.0f);
    }
}

template <int MA, int NB>
__attribute__((target("avx512f"))) void dot_block(int64_t k, float alpha, const float* packed_a, const float* b,
                                                  int64_t ldb, float beta, float* c, int64_t ldc) {
  __m512 acc[MA][NB];
  for (int i = 0; i < MA; ++i)
    for (int j = 0; j < NB; ++j) acc[i][j] = _mm512_setzero_ps();
  // Plain loads for whole vectors of B (masked ones are slower on AMD cores), masked for
  // the tail, where A's lanes past k are zeros.
  auto step = [&](int64_t p, __mmask16 lanes, bool whole) __attribute__((always_inline, target("avx512f"))) {
    __m512 bv[NB];
    for (int j = 0; j < NB; ++j)
      bv[j] = whole ? _mm512_loadu_ps(b + j * ldb + p) : _mm512_maskz_loadu_ps(lanes, b + j * ldb + p);
    const float* as = packed_a + p * MA;
    if (whole)  // the next block's rows
      for (int j = 0; j < NB; ++j) _mm_prefetch(reinterpret_cast<const char*>(b + (NB + j) * ldb + p), _MM_HINT_T0);
    for (int i = 0; i < MA; ++i) {
      const __m512 av = in_register(_mm512_loadu_ps(as + i * kLanes));
      for (int j = 0; j < NB; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
    }
  };
  int64_t p = 0;
  for (; p + 16 <= k; p += 16) step(p, 0xFFFF, true);
  if (p < k) step(p, first_lanes(k - p), false);
  for (int i = 0; i < MA; ++i)
    for (int j = 0; j < NB; ++j) {
      const float dot = alpha * lane_sum(acc[i][j]);
      float& out = c[i * ldc + j];
      out = beta != 0.0f ? dot + beta * out : dot;
    }
}

template <int MA>
void dot_rows(int64_t n, int64_t k, float alpha, const float* packed_a, const float* b, int64_t ldb, float beta,
              float* c, int64_t ldc) {
  int64_t j = 0;
  for (; j + kDotCols <= n; j += kDotCols)
    dot_block<MA, kDotCols>(k, alpha, packed_a, b + j * ldb, ldb, beta, c + j, ldc);
  if (n - j == 2) dot_block<MA, 2>(k, alpha, packed_a, b + j * ldb, ldb, beta, c + j, ldc);
  if (n - j == 1) dot_block<MA, 1>(k, alpha, packed_a, b + j * ldb, ldb, beta, c + j, ldc);
}

using DotRowsFn = void (*)(int64_t, int64_t, float, const float*, const float*, int64_t, float, float*, int64_t);
constexpr DotRowsFn kDotRowsFns[kDotRows + 1] = {nullptr,     dot_rows<1>, dot_rows<2>, dot_rows<3>, dot_rows<4>,
                                                 dot_rows<5>, dot_rows<6>, dot_rows<7>, dot_rows<8>};

// C = alpha A Bᵀ + beta C by dot products, for A of few rows (two blocks at most: the
// weight is read once a block).
void few_rows_nt(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                 float beta, float* c, int64_t ldc) {
  ThreadScratch<float, kFewRowsScratch> packed(kDotRows * (k + kLanes));
  for (int64_t i0 = 0; i0 < m; i0 += kDotRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kDotRows, m - i0));
    interleave_rows(rows, k, a + i0 * lda, lda, packed.get());
    kDotRowsFns[rows](n, k, alpha, packed.get(), b, ldb, beta, c + i0 * ldc, ldc);
  }
}

// Note [The last few columns as dot products]: 2 threads split squeezenet's batch
// into shares of 4 images (Note [Batch shares]), and its classifier and 3x3 layers on
// 3x3 maps then have n = 36 columns: two vectors and 4 columns, which a tile of three
// vectors computes at the cost of 48 (1000 x 36 x 512: 197 us, against 130 for its
// first 32 columns; Zen 5). Where 1-4 columns are left past a 32-column tile and A's
// rows run along k, those columns are computed as dot products instead, right after
// the tile of the same rows while A's rows are in L1, by the few-rows kernel (Note [Few
// rows against a transposed B]): the columns of B, copied once a panel along k, in the
// place of its rows of A, and A's rows in the place of its weight: 1000 x 36 x 512
// 152-155 us. With 5-8 columns (one
// thread's classifier, n = 72: 64 and 8) the dot products won alone (330 -> 300 us,
// the weight in L3) and lost in the model (its classifier 320 -> 350 us, the four 3x3
// layers on 3x3 maps 310 -> 340, A/B): there a wide tile keeps them (Note [A wide
// last tile]). The sums come in another order than a tile's, so the last bits of these
// columns may differ from a product of other widths.
constexpr int kDotRest = 4;  // at most these columns left as dot products

// The floats from B's line p to its column j: ImageLines place column j in image
// j / period; other lines hold their columns in order.
int64_t column_offset(const ImageLines& b, int64_t j) {
  return (j / b.images.period) * b.images.stride + j % b.images.period;
}
template <typename Lines>
int64_t column_offset(const Lines&, int64_t j) {
  return j;
}

// The last `rest` columns of a panel: B's columns [j0, j0 + rest) along k (zeros from
// k to kp), and where each row block's sums go.
struct RestColumns {
  int64_t j0 = 0, kp = 0;
  int rest = 0;  // at most kDotRest (<= kDotRows)
  std::vector<float> bt;

  // The columns interleaved as the few-rows kernel reads its A ([k / 16][column][16]).
  template <typename Lines>
  void pack(const Lines& b, bool tb, int64_t first, int columns, int64_t k) {
    j0 = first, rest = columns, kp = (k + kLanes - 1) / kLanes * kLanes;
    bt.assign(static_cast<size_t>(rest * kp), 0.0f);
    for (int j = 0; j < rest; ++j)
      for (int64_t p = 0; p < k; ++p)
        bt[static_cast<size_t>((p / kLanes * rest + j) * kLanes + p % kLanes)] =
            tb ? b.line(j0 + j)[p] : b.line(p)[column_offset(b, j0 + j)];
  }

  // Rows [i0, i0 + rows) of the columns, stored as the tiles store theirs. The dot
  // products are the few-rows kernel's (Note [Few rows against a transposed B]), the
  // columns in the place of its rows of A and A's rows in the place of its weight.
  void compute(int64_t k, float alpha, const StridedA& a, int64_t i0, int rows, float beta, float* c, int64_t ldc,
               const ColumnSegments* to) const {
    float sums[kDotRest * kRows];  // [column][row]
    kDotRowsFns[rest](rows, k, 1.0f, bt.data(), a.a + i0 * a.ra, a.ra, 0.0f, sums, rows);
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < rest; ++j) {
        const float sum = alpha * sums[j * rows + i];
        const int64_t col = j0 + j;
        if (to == nullptr) {
          float& out = c[(i0 + i) * ldc + col];
          out = beta != 0.0f ? sum + beta * out : sum;
          continue;
        }
        if (col % to->period >= to->kept) continue;  // a dropped column
        float v = sum + (to->bias != nullptr ? to->bias[i0 + i] : 0.0f);
        if (to->relu && v < 0.0f) v = 0.0f;
        c[(i0 + i) * ldc + (col / to->period) * to->stride + col % to->period] = v;
      }
  }
};

// The columns the tiles compute from column j0 on; the last 1-4 columns of the product
// go to `rest` where A's rows run along k (Note [The last few columns as dot
// products]), `rest` is left empty otherwise.
template <typename Lines>
int64_t panel_columns(bool trans_c, bool tb, int64_t n, int64_t k, int64_t j0, const StridedA& a, const Lines& b,
                      RestColumns& rest) {
  rest.rest = 0;
  if constexpr (std::is_same_v<Lines, GatheredLines>)
    if (b.row_pitch > 0) return std::min<int64_t>(kWideCols, n - j0);  // three output rows a tile
  const int64_t cols = last_tile_columns(n - j0);
  if (trans_c || a.ca != 1 || cols <= kCols || cols - kCols > kDotRest) return cols;
  rest.pack(b, tb, j0 + kCols, static_cast<int>(cols - kCols), k);
  return kCols;
}

// The product P = op(A) op(B), [m, n], stored as C (or, with trans_c, as Cᵀ: P(i, j)
// at c[j * ldc + i]). B is StridedLines (its rows, or with tb its columns) or
// GatheredLines (its rows).
// `to`: C's columns in segments (Note [Columns in segments]); alpha 1, beta 0.
template <typename Lines>
void product(bool trans_c, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const StridedA& a, const Lines& b,
             float beta, float* c, int64_t ldc, const ColumnSegments* to = nullptr) {
  constexpr bool kGatheredB = std::is_same_v<Lines, GatheredLines>;
  constexpr bool kImageB = std::is_same_v<Lines, ImageLines>;
  thread_local std::vector<float> panel;
  thread_local RestColumns rest;
  for (int64_t j0 = 0, cols = 0; j0 < n; j0 += cols + rest.rest) {
    cols = panel_columns(trans_c, tb, n, k, j0, a, b, rest);
    const int width = cols > kCols ? kWideCols : kCols;  // a packed panel's row
    TileB bt{nullptr, width, nullptr};
    if constexpr (kGatheredB) {
      // Gathered rows are read where they are (Note [Implicit GEMM] in
      // conv_implicit.cpp: why a panel of them would not pay).
      bt = TileB{nullptr, b.offset + j0, b.rows, true};  // kGatheredRowSlack
      if (b.row_pitch > 0) {                             // Note [Row tiles]
        bt.ldb = b.offset + j0 / 16 * b.row_pitch;
        bt.vstride = b.row_pitch;
      }
    } else if constexpr (kImageB) {  // Note [Images packed from where they are]
      panel.resize(static_cast<size_t>(k * width));
      pack_image_rows(b, panel_segments(b.images, j0, cols), k, width, panel.data());
      bt.b = panel.data();
      bt.padded = true;
    } else if (tb) {
      // B is stored as [n, k]: its 32 columns j0.. become k rows of 32.
      panel.resize(static_cast<size_t>(k * width));
      pack_columns(b, j0, k, static_cast<int>(cols), width, panel.data());
      bt.b = panel.data();
      bt.padded = true;
    } else if (m > 2 * kRows) {
      // Rows of a wide B lie a page apart and would fight over a few cache sets;
      // copied into one contiguous panel they are read by every row block of C.
      panel.resize(static_cast<size_t>(k * width));
      pack_rows(b, j0, k, static_cast<int>(cols), width, panel.data());
      bt.b = panel.data();
      bt.padded = true;
    } else {
      bt = TileB{b.b + j0, b.ldb, nullptr};
    }
    PanelSegments segs;
    if (to != nullptr) {
      segs = panel_segments(*to, j0, cols);
      bt.segments = &segs;
      bt.relu = to->relu;
    }
    for (int64_t i0 = 0; i0 < m; i0 += kRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kRows, m - i0));
      const TileFn fn = tile_for<kGatheredB>(trans_c, static_cast<int>(cols), rows);
      float* ct = trans_c ? c + j0 * ldc + i0 : c + i0 * ldc + (to != nullptr ? 0 : j0);
      if (to != nullptr) bt.bias = to->bias != nullptr ? to->bias + i0 : nullptr;
      fn(k, alpha, a.a + i0 * a.ra, a.ra, a.ca, bt, beta, ct, ldc, static_cast<int>(cols));
      if (rest.rest > 0) rest.compute(k, alpha, a, i0, rows, beta, c, ldc, to);
    }
  }
}

// Note [Long sums in chunks]: a long k (a convolution's weight gradient sums over
// every pixel of the batch) is summed in near-equal chunks whose B panels stay in
// L2: C = A0 B0 + beta C, then C += A1 B1, and so on. `chunk(p0, kc, beta)` computes
// one.
template <typename F>
void in_chunks(int64_t k, float beta, F&& chunk) {
  const int64_t chunks = (k + kMaxK - 1) / kMaxK, step = (k + chunks - 1) / chunks;
  for (int64_t p0 = 0; p0 < k; p0 += step) chunk(p0, std::min(step, k - p0), p0 == 0 ? beta : 1.0f);
}
}  // namespace

bool sgemm_avx512(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                  const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (!has_avx512() || k <= 0 || m <= 0 || n <= 0) return false;
  // Fewer columns than one vector (a classifier's 10 outputs): the tiles would compute
  // 32 columns for them; OpenBLAS's edge kernels run these 3-6x faster
  // (`aotgrad bench --gemm`: 256 x 10 x 1024 NT, 13 against 48 GFLOP/s on Zen 4).
  if (n < 16) return false;
  if (!ta && tb && m <= 2 * kDotRows) {  // Note [Few rows against a transposed B]
    few_rows_nt(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return true;
  }
  in_chunks(k, beta, [&](int64_t p0, int64_t kc, float chunk_beta) {
    const float* ak = a + p0 * (ta ? lda : 1);
    const StridedLines bk{b + p0 * (tb ? 1 : ldb), ldb};
    // B is packed in 32-column panels whenever it is transposed or C has many row
    // blocks: k x n floats copied. Computing Cᵀ = op(B)ᵀ op(A)ᵀ instead packs k x m,
    // at the price of storing C one element at a time (weighed as 4 copied floats).
    // That wins for a convolution's 32 output channels against its 1024 pixels.
    const bool packs_b = tb || m > 2 * kRows;
    if (packs_b && kc * n > kc * m + 4 * m * n)
      product(true, !ta, n, m, kc, alpha, StridedA{bk.b, tb ? ldb : 1, tb ? 1 : ldb}, StridedLines{ak, lda}, chunk_beta,
              c, ldc);
    else
      product(false, tb, m, n, kc, alpha, StridedA{ak, ta ? 1 : lda, ta ? lda : 1}, bk, chunk_beta, c, ldc);
  });
  return true;
}

bool sgemm_avx512_segmented(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                            const ColumnSegments& to, float* c, int64_t ldc) {
  // One k: a longer one would be summed in chunks, each adding into C (Note [Long sums
  // in chunks]), and the segments do not read C back.
  if (!has_avx512() || k <= 0 || k > kMaxK || m <= 0 || n < 16 || to.period <= 0) return false;
  product(false, false, m, n, k, 1.0f, StridedA{a, lda, 1}, StridedLines{b, ldb}, 0.0f, c, ldc, &to);
  return true;
}

bool sgemm_avx512_images(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* x,
                         const ColumnSegments& images, const ColumnSegments& to, float* c, int64_t ldc) {
  // One k, as for sgemm_avx512_segmented.
  if (!has_avx512() || k <= 0 || k > kMaxK || m <= 0 || n < 16 || to.period <= 0 || images.period <= 0 ||
      images.kept != images.period)
    return false;
  product(false, false, m, n, k, 1.0f, StridedA{a, lda, 1}, ImageLines{x, images}, 0.0f, c, ldc, &to);
  return true;
}

bool sgemm_avx512_gathered(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* const* b_rows,
                           const ColumnSegments& to, float* c, int64_t ldc, int64_t row_pitch) {
  // Gathered lines are read where they are, with no panel to keep in L2: k is not cut.
  if (!has_avx512() || k <= 0 || m <= 0 || n <= 0 || to.period <= 0 || row_pitch < 0 || (row_pitch > 0 && n % 16))
    return false;
  product(false, false, m, n, k, 1.0f, StridedA{a, lda, 1}, GatheredLines{b_rows, 0, row_pitch}, 0.0f, c, ldc, &to);
  return true;
}

}  // namespace aotgrad::ops::cpu
