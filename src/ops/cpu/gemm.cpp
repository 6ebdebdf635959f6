#include "ops/cpu/gemm.h"

#include <cblas.h>

#include "ops/cpu/loops.h"
#include "ops/cpu/sgemm_avx512.h"
#include "support/parallel.h"

namespace aotgrad::ops::cpu {

namespace {
// How BLAS should read a 2-d view: transposed or not, and the leading dimension.
struct BlasView {
  Tensor t;  // possibly a contiguous copy
  bool trans = false;
  int64_t ld = 1;
};

BlasView blas_view(const Tensor& x, DType dt) {
  const int64_t r = x.sizes()[0], c = x.sizes()[1];
  const int64_t s0 = x.strides()[0], s1 = x.strides()[1];
  if (x.dtype() == dt) {
    if ((s1 == 1 || c == 1) && s0 >= std::max<int64_t>(c, 1)) return {x, false, s0};
    if ((s0 == 1 || r == 1) && s1 >= std::max<int64_t>(r, 1)) return {x, true, s1};
  }
  Tensor cont = as_contiguous(x, dt);
  return {cont, false, std::max<int64_t>(c, 1)};
}
}  // namespace

namespace {
// Note [One thread pool]: OpenBLAS runs single-threaded (set_num_threads keeps it
// at 1) and large products are split here, over our own OpenMP threads, into
// independent row or column blocks of C. Two pools on two cores — OpenBLAS's
// workers spinning while OpenMP's run, and the other way round — made a 2-thread
// step several times slower than a 1-thread one.
template <typename T, typename Blas>
void split_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb,
                T* c, int64_t ldc, Blas&& blas) {
  const int threads = num_threads();
  constexpr int64_t kMinFlopsPerThread = int64_t{1} << 20;
  if (threads <= 1 || m * n * k < kMinFlopsPerThread * threads) {
    blas(m, n, a, b, c);
    return;
  }
  // Split the longer side of C into one block per thread (columns in multiples of 16
  // keep the BLAS kernels' panels whole).
  if (m >= n) {
    parallel_for(m, n * k,
                 [&](int64_t r0, int64_t r1) { blas(r1 - r0, n, a + (ta ? r0 : r0 * lda), b, c + r0 * ldc); });
  } else {
    const int64_t blocks = (n + 15) / 16;
    parallel_for(blocks, 16 * m * k, [&](int64_t b0, int64_t b1) {
      const int64_t c0 = b0 * 16, c1 = std::min(n, b1 * 16);
      blas(m, c1 - c0, a, b + (tb ? c0 * ldb : c0), c + c0);
    });
  }
}
}  // namespace

template <typename T>
void blas_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
               int64_t ldb, T beta, T* c, int64_t ldc) {
  split_gemm<T>(ta, tb, m, n, k, a, lda, b, ldb, c, ldc, [&](int64_t mm, int64_t nn, const T* pa, const T* pb, T* pc) {
    const auto trans_a = ta ? CblasTrans : CblasNoTrans, trans_b = tb ? CblasTrans : CblasNoTrans;
    const auto im = static_cast<int>(mm), in = static_cast<int>(nn), ik = static_cast<int>(k);
    if constexpr (std::is_same_v<T, float>) {
      if (sgemm_avx512(ta, tb, mm, nn, k, alpha, pa, lda, pb, ldb, beta, pc, ldc)) return;
      cblas_sgemm(CblasRowMajor, trans_a, trans_b, im, in, ik, alpha, pa, static_cast<int>(lda), pb,
                  static_cast<int>(ldb), beta, pc, static_cast<int>(ldc));
    } else {
      cblas_dgemm(CblasRowMajor, trans_a, trans_b, im, in, ik, alpha, pa, static_cast<int>(lda), pb,
                  static_cast<int>(ldb), beta, pc, static_cast<int>(ldc));
    }
  });
}

void sgemm_raw(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
               const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  blas_gemm<float>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void dgemm_raw(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
               const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  blas_gemm<double>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm(const Tensor& a, const Tensor& b, const Tensor& c, double alpha, double beta) {
  const int64_t n = a.sizes()[0], k = a.sizes()[1], m = b.sizes()[1];
  if (n == 0 || m == 0) return;
  if (k == 0) {
    if (beta == 0)
      fill(c, 0);
    else if (beta != 1)
      visit_dtype(c.dtype(), [&]<typename T>() {
        T* p = c.data_ptr<T>();
        const int64_t n = c.numel();  // once: numel walks the sizes, and p's stores could alias them
        for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(p[i] * beta);
      });
    return;
  }
  const DType dt = c.dtype();
  if (dt == DType::Float32 || dt == DType::Float64) {
    BlasView va = blas_view(a, dt), vb = blas_view(b, dt);
    if (dt == DType::Float32)
      sgemm_raw(va.trans, vb.trans, n, m, k, static_cast<float>(alpha), va.t.data_ptr<float>(), va.ld,
                vb.t.data_ptr<float>(), vb.ld, static_cast<float>(beta), c.data_ptr<float>(), m);
    else
      dgemm_raw(va.trans, vb.trans, n, m, k, alpha, va.t.data_ptr<double>(), va.ld, vb.t.data_ptr<double>(), vb.ld,
                beta, c.data_ptr<double>(), m);
    return;
  }
  visit_dtype(dt, [&]<typename T>() {
    Tensor ca = as_contiguous(a, dt), cb = as_contiguous(b, dt);
    const T *pa = ca.data_ptr<T>(), *pb = cb.data_ptr<T>();
    T* pc = c.data_ptr<T>();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j) {
        T acc = 0;
        for (int64_t p = 0; p < k; ++p) acc += pa[i * k + p] * pb[p * m + j];
        pc[i * m + j] = static_cast<T>(alpha * acc + (beta == 0 ? 0 : beta * pc[i * m + j]));
      }
  });
}

}  // namespace aotgrad::ops::cpu
