// The AVX-512 GEMM against a double-precision loop: every transpose combination,
// sizes that leave partial tiles, leading dimensions wider than the matrices,
// alpha and beta (and beta 0 must not read C), and a k longer than one panel
// (summed in chunks: a convolution's weight gradient), few rows against a transposed B
// (dot products: a classifier on a small batch), a last tile of 33-48 columns (three
// vectors a row: n = 33, 40, 70, 72, 100, and 40 rows computed as Cᵀ). Products with fewer than 16
// columns are declined (OpenBLAS runs them faster) and leave C alone.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "ops/cpu/cpu_features.h"
#include "ops/cpu/sgemm_avx512.h"

namespace {
struct Case {
  int64_t m, n, k;
};

TEST(SgemmAvx512, MatchesAReferenceProductOnEveryLayout) {
  if (!aotgrad::ops::cpu::has_avx512()) GTEST_SKIP() << "this CPU has no AVX-512; BLAS computes these products";
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> dist(-1, 1);
  int checked = 0, declined = 0;
  for (Case s : {Case{1, 1, 1}, Case{8, 32, 5}, Case{9, 33, 17}, Case{7, 15, 64}, Case{7, 17, 64}, Case{40, 70, 3},
                 Case{64, 16, 128}, Case{33, 100, 257}, Case{9, 40, 4500}, Case{8, 70, 1030}, Case{40, 160, 1200},
                 Case{24, 72, 40}}) {
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (float beta : {0.0f, 1.0f, 0.5f}) {
          SCOPED_TRACE(::testing::Message()
                       << s.m << "x" << s.n << "x" << s.k << " ta " << ta << " tb " << tb << " beta " << beta);
          // Leading dimensions 3 wider than needed, so row steps are not the widths.
          const int64_t lda = (ta ? s.m : s.k) + 3, ldb = (tb ? s.k : s.n) + 3, ldc = s.n + 3;
          std::vector<float> a(static_cast<size_t>((ta ? s.k : s.m) * lda)),
              b(static_cast<size_t>((tb ? s.n : s.k) * ldb));
          for (float& x : a) x = dist(gen);
          for (float& x : b) x = dist(gen);
          std::vector<float> c(static_cast<size_t>(s.m * ldc));
          for (float& x : c) x = beta == 0 ? std::numeric_limits<float>::quiet_NaN() : dist(gen);
          const std::vector<float> c0 = c;
          const float alpha = 1.5f;
          const bool ran = aotgrad::ops::cpu::sgemm_avx512(ta, tb, s.m, s.n, s.k, alpha, a.data(), lda, b.data(), ldb,
                                                           beta, c.data(), ldc);
          if (s.n < 16) {
            EXPECT_FALSE(ran) << "fewer than 16 columns go to OpenBLAS";
            EXPECT_EQ(std::memcmp(c.data(), c0.data(), c.size() * sizeof(float)), 0) << "a declined product wrote C";
            ++declined;
            continue;
          }
          ASSERT_TRUE(ran);
          for (int64_t i = 0; i < s.m; ++i) {
            for (int64_t j = 0; j < s.n; ++j) {
              double acc = 0;
              for (int64_t p = 0; p < s.k; ++p)
                acc +=
                    static_cast<double>(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
              const double want = alpha * acc + (beta == 0 ? 0.0 : beta * static_cast<double>(c0[i * ldc + j]));
              ASSERT_NEAR(c[static_cast<size_t>(i * ldc + j)], want,
                          1e-4 * (1 + std::abs(want)) * std::sqrt(s.k / 64.0 + 1))
                  << i << ", " << j;
            }
            // Columns past n (the padding of ldc) are left alone.
            for (int64_t j = s.n; j < ldc; ++j) {
              const float before = c0[static_cast<size_t>(i * ldc + j)], after = c[static_cast<size_t>(i * ldc + j)];
              ASSERT_TRUE((std::isnan(before) && std::isnan(after)) || before == after) << "padding " << i << ", " << j;
            }
          }
          ++checked;
        }
  }
  EXPECT_EQ(checked, 10 * 4 * 3);
  EXPECT_EQ(declined, 2 * 4 * 3);
}
}  // namespace
