// The implicit-GEMM convolution (Note [Implicit GEMM]) against a direct convolution
// in double precision: output, input gradient and weight gradient, for kernels and
// paddings that leave dropped columns of every width, channel counts that leave
// partial tiles, a batch of more than one image, and maps taken a row to a vector.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "ops/cpu/conv_implicit.h"
#include "ops/cpu/cpu_features.h"

namespace {
using aotgrad::ops::cpu::Conv2dSizes;

// x[n, c, y, x] at output position (oy, ox), tap (ki, kj): 0 in the padding.
double tap(const Conv2dSizes& s, const std::vector<float>& x, int64_t n, int64_t c, int64_t oy, int64_t ox, int64_t ki,
           int64_t kj) {
  const int64_t iy = oy - s.ph + ki, ix = ox - s.pw + kj;
  if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) return 0;
  return x[static_cast<size_t>(((n * s.c + c) * s.h + iy) * s.w + ix)];
}

struct Reference {
  std::vector<double> y, gx, gw;
};

Reference direct(const Conv2dSizes& s, const std::vector<float>& x, const std::vector<float>& w,
                 const std::vector<float>& bias, const std::vector<float>& gy) {
  const int64_t oh = s.oh(), ow = s.ow();
  Reference r;
  r.y.assign(static_cast<size_t>(s.n * s.oc * oh * ow), 0);
  r.gx.assign(x.size(), 0);
  r.gw.assign(w.size(), 0);
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t o = 0; o < s.oc; ++o)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          const size_t yi = static_cast<size_t>(((n * s.oc + o) * oh + oy) * ow + ox);
          double acc = bias[static_cast<size_t>(o)];
          for (int64_t c = 0; c < s.c; ++c)
            for (int64_t ki = 0; ki < s.kh; ++ki)
              for (int64_t kj = 0; kj < s.kw; ++kj) {
                const size_t wi = static_cast<size_t>(((o * s.c + c) * s.kh + ki) * s.kw + kj);
                const double xv = tap(s, x, n, c, oy, ox, ki, kj);
                acc += w[wi] * xv;
                r.gw[wi] += gy[yi] * xv;
                const int64_t iy = oy - s.ph + ki, ix = ox - s.pw + kj;
                if (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w)
                  r.gx[static_cast<size_t>(((n * s.c + c) * s.h + iy) * s.w + ix)] += w[wi] * gy[yi];
              }
          r.y[yi] = acc;
        }
  return r;
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-4 * (1 + std::abs(want[i]))) << what << " element " << i;
}

TEST(ConvImplicit, MatchesADirectConvolution) {
  if (!aotgrad::ops::cpu::has_avx512()) GTEST_SKIP() << "this CPU has no AVX-512; im2col computes these";
  std::mt19937 gen(11);
  std::uniform_real_distribution<float> dist(-1, 1);
  // n, c, h, w, oc, kh, kw, ph, pw
  for (Conv2dSizes s : {Conv2dSizes{2, 3, 8, 8, 5, 3, 3, 1, 1}, Conv2dSizes{1, 4, 7, 9, 33, 3, 3, 0, 0},
                        Conv2dSizes{3, 2, 6, 5, 4, 5, 5, 2, 2}, Conv2dSizes{2, 5, 4, 6, 3, 1, 1, 0, 0},
                        Conv2dSizes{1, 3, 9, 7, 6, 2, 3, 1, 0}, Conv2dSizes{2, 16, 10, 10, 40, 3, 3, 1, 1},
                        // Few output channels, many taps.
                        Conv2dSizes{2, 32, 12, 12, 8, 3, 3, 1, 1},
                        // Rows of whole 16-lane vectors (the weight gradient's unmasked
                        // loads), and images too big to share a group (one per group).
                        Conv2dSizes{5, 4, 16, 16, 6, 3, 3, 1, 1}, Conv2dSizes{3, 64, 32, 32, 5, 3, 3, 1, 1},
                        // Row tiles (Note [Row tiles]): 15 rows of 15 (five tiles of three
                        // rows), 14 rows of 15 on a 17-wide padded row (the last tile two).
                        Conv2dSizes{2, 16, 15, 15, 20, 3, 3, 1, 1}, Conv2dSizes{1, 3, 14, 13, 9, 3, 3, 1, 2}}) {
    SCOPED_TRACE(::testing::Message() << "n " << s.n << " c " << s.c << " " << s.h << "x" << s.w << " oc " << s.oc
                                      << " k " << s.kh << "x" << s.kw << " pad " << s.ph << "," << s.pw);
    auto random = [&](int64_t count) {
      std::vector<float> v(static_cast<size_t>(count));
      for (float& e : v) e = dist(gen);
      return v;
    };
    const std::vector<float> x = random(s.n * s.c * s.h * s.w), w = random(s.oc * s.c * s.kh * s.kw),
                             bias = random(s.oc), gy = random(s.n * s.oc * s.oh() * s.ow());
    const Reference want = direct(s, x, w, bias, gy);
    // Outputs start as NaN: every element must be written.
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> y(want.y.size(), nan), gx(x.size(), nan), gw(w.size(), nan);
    ASSERT_TRUE(aotgrad::ops::cpu::conv2d_implicit_forward(s, x.data(), w.data(), bias.data(), nullptr, y.data()));
    expect_close(y, want.y, "output");
    ASSERT_TRUE(aotgrad::ops::cpu::conv2d_implicit_backward(s, gy.data(), x.data(), w.data(), gx.data(), gw.data()));
    expect_close(gx, want.gx, "input gradient");
    expect_close(gw, want.gw, "weight gradient");
  }
}

TEST(ConvImplicit, InfiniteInputsGiveInfiniteWeightGradientsNotNaN) {
  if (!aotgrad::ops::cpu::has_avx512()) GTEST_SKIP() << "this CPU has no AVX-512";
  // A 4x4 input, 3x3 kernel, padding 1: every tap of some output reads x(1, 1).
  const Conv2dSizes s{1, 1, 4, 4, 1, 3, 3, 1, 1};
  std::vector<float> x(16, 1.0f), w(9, 1.0f), gy(16, 1.0f), gx(16), gw(9, -7.0f);
  x[5] = std::numeric_limits<float>::infinity();
  ASSERT_TRUE(aotgrad::ops::cpu::conv2d_implicit_backward(s, gy.data(), x.data(), w.data(), gx.data(), gw.data()));
  for (float g : gw) EXPECT_EQ(g, std::numeric_limits<float>::infinity());
  for (float g : gx) EXPECT_TRUE(std::isfinite(g)) << "the input gradient does not read x";
  x[5] = std::numeric_limits<float>::quiet_NaN();
  ASSERT_TRUE(aotgrad::ops::cpu::conv2d_implicit_backward(s, gy.data(), x.data(), w.data(), nullptr, gw.data()));
  for (float g : gw) EXPECT_TRUE(std::isnan(g));
}

TEST(ConvImplicit, DeclinesAPaddingAsWideAsTheKernel) {
  if (!aotgrad::ops::cpu::has_avx512()) GTEST_SKIP() << "this CPU has no AVX-512";
  std::vector<float> x(16, 1.0f), w(9, 1.0f), y(36, -7.0f);
  EXPECT_FALSE(aotgrad::ops::cpu::conv2d_implicit_forward(Conv2dSizes{1, 1, 4, 4, 1, 3, 3, 3, 0}, x.data(), w.data(),
                                                          nullptr, nullptr, y.data()));
  EXPECT_EQ(y[0], -7.0f) << "nothing written";
}
}  // namespace
