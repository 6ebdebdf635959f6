// Note [Transposing copies]: a copy whose source runs contiguously along some dim
// other than the last, into a contiguous destination (k.transpose(-2, -1) made
// contiguous for attention's q kᵀ, a channels-last layout made NCHW), reads the
// source with a large stride in the element loop: one scalar load and store per
// element, 38 µs for transformer_block's [8, 4, 32, 64] kᵀ. Here it runs as 8x8
// blocks: eight contiguous source rows loaded as vectors, transposed in registers,
// stored as eight contiguous destination rows (AVX2, the build's baseline).
//   Where the CPU has AVX-512, whole 16x16 blocks go first, transposed in zmm registers
// (transpose16: 64 shuffles for 256 floats, against 96 as four 8x8 blocks, each
// moving twice the bytes): the channels-last depthwise kernel transposes every image
// in and out, and there the 8x8 blocks ran at about 2 floats a cycle (MobileNet's
// 72-channel 16x16 maps, 8 images: 19 us of a 40 us layer).
#include "ops/cpu/transpose_copy.h"

#include <immintrin.h>

#include <cstring>
#include <vector>

#include "ops/cpu/cpu_features.h"
#include "ops/cpu/lanes_avx512.h"
#include "support/parallel.h"

namespace aotgrad::ops::cpu {

namespace {
constexpr int64_t kTile = 8;

// dst row j (stride ds) = src column j of the 8x8 block whose rows are src + k * ss.
inline void transpose_tile(const float* src, int64_t ss, float* dst, int64_t ds) {
  __m256 r[kTile], t[kTile], u[kTile];
  for (int k = 0; k < kTile; ++k) r[k] = _mm256_loadu_ps(src + k * ss);
  for (int k = 0; k < kTile; k += 2) {
    t[k] = _mm256_unpacklo_ps(r[k], r[k + 1]);
    t[k + 1] = _mm256_unpackhi_ps(r[k], r[k + 1]);
  }
  for (int k = 0; k < kTile; k += 4) {
    u[k] = _mm256_shuffle_ps(t[k], t[k + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int k = 0; k < 4; ++k) {
    _mm256_storeu_ps(dst + k * ds, _mm256_permute2f128_ps(u[k], u[k + 4], 0x20));
    _mm256_storeu_ps(dst + (k + 4) * ds, _mm256_permute2f128_ps(u[k], u[k + 4], 0x31));
  }
}

// Whole 8x8 tiles first, then the ragged edges element by element.
void transpose_block8(const float* src, int64_t ss, float* dst, int64_t ds, int64_t rows, int64_t cols) {
  const int64_t full_r = rows / kTile * kTile, full_c = cols / kTile * kTile;
  for (int64_t i = 0; i < full_r; i += kTile)
    for (int64_t j = 0; j < full_c; j += kTile) transpose_tile(src + i + j * ss, ss, dst + i * ds + j, ds);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = i < full_r ? full_c : 0; j < cols; ++j) dst[i * ds + j] = src[i + j * ss];
}

// One 16x16 tile, as transpose_tile.
__attribute__((target("avx512f"))) void transpose_tile16(const float* src, int64_t ss, float* dst, int64_t ds) {
  __m512 r[kLanes];
  for (int k = 0; k < kLanes; ++k) r[k] = _mm512_loadu_ps(src + k * ss);
  transpose16(r);
  for (int k = 0; k < kLanes; ++k) _mm512_storeu_ps(dst + k * ds, r[k]);
}

}  // namespace

// Whole 16x16 tiles (AVX-512), then the rest as 8x8 tiles and single elements.
void transpose_block(const float* src, int64_t ss, float* dst, int64_t ds, int64_t rows, int64_t cols) {
  const bool wide = has_avx512();
  const int64_t full_r = wide ? rows / kLanes * kLanes : 0, full_c = wide ? cols / kLanes * kLanes : 0;
  for (int64_t i = 0; i < full_r; i += kLanes)
    for (int64_t j = 0; j < full_c; j += kLanes) transpose_tile16(src + i + j * ss, ss, dst + i * ds + j, ds);
  transpose_block8(src + full_c * ss, ss, dst + full_c, ds, full_r, cols - full_c);  // right of the tiles
  transpose_block8(src + full_r, ss, dst + full_r * ds, ds, rows - full_r, cols);    // below them
}

bool copy_transposing(const Tensor& dst, const Tensor& src) {
  if (dst.dtype() != src.dtype() || dtype_size(dst.dtype()) != 4 || !dst.is_contiguous() ||
      dst.sizes() != src.sizes() || dst.dim() < 2)
    return false;
  const Shape &sizes = src.sizes(), &ss = src.strides(), &ds = dst.strides();
  const int64_t last = dst.dim() - 1;
  if (ss[last] == 1 || sizes[last] < kTile) return false;
  int64_t p = -1;  // the source's contiguous dim
  for (int64_t d = 0; d < last; ++d)
    if (ss[d] == 1 && sizes[d] >= kTile) p = d;
  // (A zero stride, a broadcast, reads the same source again, as the element loop would.)
  if (p < 0) return false;
  // Every other dim indexes one [sizes[p] x sizes[last]] block.
  std::vector<int64_t> outer_dims;
  int64_t blocks = 1;
  for (int64_t d = 0; d < last; ++d)
    if (d != p) {
      outer_dims.push_back(d);
      blocks *= sizes[d];
    }
  // 4-byte elements move as floats: the shuffles keep every bit.
  const auto* s0 = static_cast<const float*>(src.raw_data());
  auto* d0 = static_cast<float*>(dst.raw_data());
  parallel_for(blocks, sizes[p] * sizes[last], [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; ++blk) {
      int64_t rem = blk, so = 0, dof = 0;
      for (auto it = outer_dims.rbegin(); it != outer_dims.rend(); ++it) {
        const int64_t i = rem % sizes[*it];
        rem /= sizes[*it];
        so += i * ss[*it];
        dof += i * ds[*it];
      }
      transpose_block(s0 + so, ss[last], d0 + dof, ds[p], sizes[p], sizes[last]);
    }
  });
  return true;
}

}  // namespace aotgrad::ops::cpu
