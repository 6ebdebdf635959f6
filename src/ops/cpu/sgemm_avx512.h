// An AVX-512 single-precision GEMM for small and medium products (Note [An AVX-512
// kernel of our own] in sgemm_avx512.cpp).
#pragma once

#include <cstdint>

namespace aotgrad::ops::cpu {

/// c = alpha * op(a) op(b) + beta * c on row-major buffers, as cblas_sgemm takes them
/// (beta == 0: c is not read). Returns false, touching nothing, when it does not
/// handle the product (no AVX-512 on this CPU, or k too long): call BLAS then.
bool sgemm_avx512(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                  const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

/// How far past its n floats a gathered row may be read (its values there do not
/// matter): the tiles load whole vectors instead of masked ones, which are slow on
/// some CPUs (three times on Zen 4).
inline constexpr int64_t kGatheredRowSlack = 32;

/// Where a product's columns land when they are not C's own (Note [Columns in
/// segments] in sgemm_avx512.cpp): column j of row i goes to
///   c[i * ldc + (j / period) * stride + j % period] = P(i, j) + bias[i] (no bias: + 0)
/// when j % period < kept, and nowhere otherwise. An implicit-GEMM convolution computes
/// each output row on the padded width (period: that width, kept: the output's, stride:
/// the output's); a product over images side by side gives each image its block
/// (period = kept: an image's columns, stride: the image's size). With `relu`, a value
/// below zero is stored as zero, as Formula::Relu computes it (NaN and -0 kept): a
/// convolution's ReLU epilogue applied in the store, not in a pass over the output.
struct ColumnSegments {
  int64_t period, kept, stride;
  const float* bias = nullptr;
  bool relu = false;
};

/// C = A B through `to`, A and B row-major, not transposed. Returns false,
/// touching nothing, where it does not apply (no AVX-512, fewer than 16 columns, k
/// over 2048): run the product and the copy then.
bool sgemm_avx512_segmented(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                            const ColumnSegments& to, float* c, int64_t ldc);

/// The same, with B the images side by side where they are (Note [Images packed from
/// where they are] in sgemm_avx512.cpp): column j of B's row p is
///   x[(j / images.period) * images.stride + p * images.period + j % images.period]
/// (images.kept == images.period: every column kept). A 1x1 convolution's images are
/// B so, each image's channel planes of `period` floats, images `stride` apart.
bool sgemm_avx512_images(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* x,
                         const ColumnSegments& images, const ColumnSegments& to, float* c, int64_t ldc);

/// The same, with B's rows gathered from anywhere: row p is the n floats at b_rows[p],
/// each readable for kGatheredRowSlack floats more. An implicit-GEMM convolution's B is
/// its input's rows at shifted offsets (Note [Implicit GEMM] in conv_implicit.cpp).
/// With row_pitch > 0 (row tiles, Note [Row tiles] in conv_implicit.cpp), n is a
/// multiple of 16 and column j of row p is b_rows[p][(j / 16) * row_pitch + j % 16].
bool sgemm_avx512_gathered(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* const* b_rows,
                           const ColumnSegments& to, float* c, int64_t ldc, int64_t row_pitch = 0);

}  // namespace aotgrad::ops::cpu
