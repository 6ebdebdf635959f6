// The AVX-512 GEMM against a double-precision loop: every transpose combination,
// sizes that leave partial tiles, leading dimensions wider than the matrices,
// alpha and beta (and beta 0 must not read C), and a k longer than one panel
// (summed in chunks: a convolution's weight gradient), few rows against a transposed B
// (dot products: a classifier on a small batch), a last tile of 33-48 columns (three
// vectors a row: n = 33, 40, 70, 72, 100, and 40 rows computed as Cᵀ), and columns
// stored through segments (an implicit-GEMM convolution's kept columns, images side
// by side, and a 1x1 convolution's images read where they are). Products with fewer
// than 16 columns are declined (OpenBLAS runs them faster) and leave C alone.
#include <gtest/gtest.h>

#include <algorithm>
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

// Columns in segments (Note [Columns in segments]): the product's column j of row i
// lands at c[i * ldc + (j / period) * stride + j % period] plus the row's bias when
// j % period < kept; every other float of C keeps its sentinel. Periods under a
// vector (a vector's lanes split over many segments), of one column, over a tile;
// dropped columns; rows in packed panels (m > 16) and read in place; a wide last tile;
// B as row-major rows and as gathered lines; a ReLU in the store; a k over 2048 declined.
TEST(SgemmAvx512, StoresColumnsThroughSegments) {
  using aotgrad::ops::cpu::ColumnSegments;
  if (!aotgrad::ops::cpu::has_avx512()) GTEST_SKIP() << "this CPU has no AVX-512; BLAS computes these products";
  struct SegCase {
    int64_t m, n, k, period, kept;
    bool bias, relu = false;
  };
  std::mt19937 gen(9);
  std::uniform_real_distribution<float> dist(-1, 1);
  int checked = 0;
  for (SegCase s :
       {SegCase{8, 72, 20, 9, 9, true}, SegCase{40, 255, 30, 17, 15, true, true}, SegCase{3, 40, 7, 1, 1, false},
        SegCase{17, 100, 12, 50, 47, true}, SegCase{9, 36, 5, 4, 3, false, true}, SegCase{24, 392, 9, 49, 49, true}})
    for (bool gathered : {false, true}) {
      SCOPED_TRACE(::testing::Message() << s.m << "x" << s.n << "x" << s.k << " period " << s.period << " kept "
                                        << s.kept << (gathered ? " gathered" : " rows") << (s.relu ? " relu" : ""));
      const int64_t segments = (s.n + s.period - 1) / s.period, stride = s.kept + 5, ldc = segments * stride + 3;
      std::vector<float> a(static_cast<size_t>(s.m * s.k)), b(static_cast<size_t>(s.k * s.n + 32)), bias(s.m);
      for (float& x : a) x = dist(gen);
      for (float& x : b) x = dist(gen);
      for (float& x : bias) x = dist(gen);
      std::vector<const float*> rows(static_cast<size_t>(s.k));
      for (int64_t p = 0; p < s.k; ++p) rows[static_cast<size_t>(p)] = b.data() + p * s.n;
      std::vector<float> c(static_cast<size_t>(s.m * ldc), std::numeric_limits<float>::quiet_NaN());
      const ColumnSegments to{s.period, s.kept, stride, s.bias ? bias.data() : nullptr, s.relu};
      const bool ran = gathered ? aotgrad::ops::cpu::sgemm_avx512_gathered(s.m, s.n, s.k, a.data(), s.k, rows.data(),
                                                                           to, c.data(), ldc)
                                : aotgrad::ops::cpu::sgemm_avx512_segmented(s.m, s.n, s.k, a.data(), s.k, b.data(), s.n,
                                                                            to, c.data(), ldc);
      ASSERT_TRUE(ran);
      std::vector<bool> written(c.size(), false);
      for (int64_t i = 0; i < s.m; ++i)
        for (int64_t j = 0; j < s.n; ++j) {
          if (j % s.period >= s.kept) continue;
          double want = s.bias ? bias[static_cast<size_t>(i)] : 0.0;
          for (int64_t p = 0; p < s.k; ++p)
            want += static_cast<double>(a[static_cast<size_t>(i * s.k + p)]) * b[static_cast<size_t>(p * s.n + j)];
          if (s.relu) want = std::max(want, 0.0);
          const auto at = static_cast<size_t>(i * ldc + (j / s.period) * stride + j % s.period);
          ASSERT_NEAR(c[at], want, 1e-4 * (1 + std::abs(want))) << i << ", " << j;
          written[at] = true;
        }
      for (size_t at = 0; at < c.size(); ++at)
        ASSERT_TRUE(written[at] || std::isnan(c[at])) << "wrote C[" << at << "], which no kept column maps to";
      ++checked;
    }
  EXPECT_EQ(checked, 12);
  std::vector<float> a(4 * 2049, 1.0f), b(2049 * 32, 1.0f), c(4 * 32, -1.0f);
  EXPECT_FALSE(aotgrad::ops::cpu::sgemm_avx512_segmented(4, 32, 2049, a.data(), 2049, b.data(), 32,
                                                         ColumnSegments{32, 32, 32}, c.data(), 32))
      << "a k over one chunk is declined";
  EXPECT_EQ(c[0], -1.0f);
}

// Images read where they are (Note [Images packed from where they are]): a 1x1
// convolution's product over images side by side, each image's channel rows of
// `positions` floats, images further apart than their channels, stored back image by
// image with a bias and a ReLU. Column counts whose last 1-4 columns are dot products
// (Note [The last few columns as dot products]: 4 images of 3x3 maps, n = 36, as 2
// threads' shares of squeezenet's classifier; 33, 35, 100) and others (16, 72).
TEST(SgemmAvx512, ReadsImagesWhereTheyAre) {
  using aotgrad::ops::cpu::ColumnSegments;
  if (!aotgrad::ops::cpu::has_avx512()) GTEST_SKIP() << "this CPU has no AVX-512; BLAS computes these products";
  struct ImageCase {
    int64_t m, images, positions, k;
    bool relu;
  };
  std::mt19937 gen(11);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (ImageCase s : {ImageCase{20, 4, 9, 24, true}, ImageCase{9, 3, 11, 40, false}, ImageCase{17, 5, 7, 33, true},
                      ImageCase{8, 2, 50, 17, false}, ImageCase{12, 1, 16, 8, true}, ImageCase{30, 8, 9, 70, false}}) {
    const int64_t n = s.images * s.positions, in_stride = s.k * s.positions + 7, out_stride = s.m * s.positions + 5;
    SCOPED_TRACE(::testing::Message() << s.m << "x" << n << "x" << s.k << " (" << s.images << " images of "
                                      << s.positions << ")" << (s.relu ? " relu" : ""));
    std::vector<float> x(static_cast<size_t>(s.images * in_stride + 32)), a(static_cast<size_t>(s.m * s.k)),
        bias(static_cast<size_t>(s.m));
    for (float& v : x) v = dist(gen);
    for (float& v : a) v = dist(gen);
    for (float& v : bias) v = dist(gen);
    std::vector<float> c(static_cast<size_t>(s.images * out_stride), std::numeric_limits<float>::quiet_NaN());
    const ColumnSegments images{s.positions, s.positions, in_stride};
    const ColumnSegments to{s.positions, s.positions, out_stride, bias.data(), s.relu};
    ASSERT_TRUE(aotgrad::ops::cpu::sgemm_avx512_images(s.m, n, s.k, a.data(), s.k, x.data(), images, to, c.data(),
                                                       s.positions));
    std::vector<bool> written(c.size(), false);
    for (int64_t img = 0; img < s.images; ++img)
      for (int64_t i = 0; i < s.m; ++i)
        for (int64_t q = 0; q < s.positions; ++q) {
          double want = bias[static_cast<size_t>(i)];
          for (int64_t p = 0; p < s.k; ++p)
            want += static_cast<double>(a[static_cast<size_t>(i * s.k + p)]) *
                    x[static_cast<size_t>(img * in_stride + p * s.positions + q)];
          if (s.relu) want = std::max(want, 0.0);
          const auto at = static_cast<size_t>(img * out_stride + i * s.positions + q);
          ASSERT_NEAR(c[at], want, 1e-4 * (1 + std::abs(want))) << "image " << img << ", " << i << ", " << q;
          written[at] = true;
        }
    for (size_t at = 0; at < c.size(); ++at)
      ASSERT_TRUE(written[at] || std::isnan(c[at])) << "wrote C[" << at << "], which no output maps to";
  }
}
