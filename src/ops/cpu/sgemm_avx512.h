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

/// The same product, not transposed, with B's rows gathered from anywhere: row p is
/// the n floats at b_rows[p], each readable for kGatheredRowSlack floats more. A is
/// row-major. An implicit-GEMM convolution's B is its input's rows at shifted
/// offsets (Note [Implicit GEMM] in conv_implicit.cpp).
bool sgemm_avx512_gathered(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                           const float* const* b_rows, float beta, float* c, int64_t ldc);

}  // namespace aotgrad::ops::cpu
