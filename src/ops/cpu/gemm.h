// Matrix multiply on strided operands through OpenBLAS (float and double);
// a plain loop for integer dtypes.
#pragma once

#include <type_traits>

#include "aotgrad/tensor.h"

namespace aotgrad::ops::cpu {

/// c = alpha * a @ b + beta * c for 2-d a [n, k], b [k, m], c [n, m] (c contiguous).
/// a and b may be row- or column-major views; other layouts are copied first.
void gemm(const Tensor& a, const Tensor& b, const Tensor& c, double alpha, double beta);

/// Raw single-precision GEMM on row-major buffers (used by convolution).
void sgemm_raw(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
               const float* b, int64_t ldb, float beta, float* c, int64_t ldc);
void dgemm_raw(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
               const double* b, int64_t ldb, double beta, double* c, int64_t ldc);
/// sgemm_raw or dgemm_raw, by element type.
template <typename T>
void gemm_raw(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
              int64_t ldb, T beta, T* c, int64_t ldc) {
  if constexpr (std::is_same_v<T, float>)
    sgemm_raw(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else
    dgemm_raw(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace aotgrad::ops::cpu
