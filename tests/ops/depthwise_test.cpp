// Float depthwise convolutions (16 outputs per vector on AVX-512 CPUs, Note
// [Depthwise rows in vectors]) against a direct convolution in double precision:
// kernels 3 and 5, strides 1-3, padding, dilation, rows wider than 16 outputs, a
// depth multiplier of 2, with and without a bias.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "aotgrad/ops.h"

namespace aotgrad {
namespace {

struct Case {
  int64_t n, c, mult, h, w, k, s, p, d;
  bool bias;
};

std::vector<double> direct(const Case& t, const std::vector<float>& x, const std::vector<float>& w,
                           const std::vector<float>& b, int64_t oh, int64_t ow) {
  const int64_t oc = t.c * t.mult;
  std::vector<double> y;
  for (int64_t n = 0; n < t.n; ++n)
    for (int64_t o = 0; o < oc; ++o)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          double acc = t.bias ? b[static_cast<size_t>(o)] : 0.0;
          for (int64_t ki = 0; ki < t.k; ++ki)
            for (int64_t kj = 0; kj < t.k; ++kj) {
              const int64_t iy = oy * t.s - t.p + ki * t.d, ix = ox * t.s - t.p + kj * t.d;
              if (iy < 0 || iy >= t.h || ix < 0 || ix >= t.w) continue;
              acc += static_cast<double>(w[static_cast<size_t>((o * t.k + ki) * t.k + kj)]) *
                     x[static_cast<size_t>(((n * t.c + o / t.mult) * t.h + iy) * t.w + ix)];
            }
          y.push_back(acc);
        }
  return y;
}

TEST(Depthwise, EveryOutputMatchesADirectConvolution) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  int checked = 0;
  for (int64_t k : {3, 5})
    for (int64_t s : {1, 2, 3})
      for (int64_t d : {1, 2})
        for (auto [h, w] : {std::pair<int64_t, int64_t>{7, 9}, {12, 37}, {5, 70}})
          for (int64_t mult : {1, 2}) {
            const Case t{2, 3, mult, h, w, k, s, k / 2, d, (k + s + d) % 2 == 0};
            const int64_t oh = (h + 2 * t.p - d * (k - 1) - 1) / s + 1, ow = (w + 2 * t.p - d * (k - 1) - 1) / s + 1;
            if (oh < 1 || ow < 1) continue;
            const int64_t oc = t.c * mult;
            std::vector<float> x(static_cast<size_t>(t.n * t.c * h * w)), wt(static_cast<size_t>(oc * k * k)),
                b(static_cast<size_t>(oc));
            for (auto* v : {&x, &wt, &b})
              for (float& e : *v) e = normal(rng);
            const Tensor y =
                conv2d(Tensor::from_vector<float>(x, {t.n, t.c, h, w}), Tensor::from_vector<float>(wt, {oc, 1, k, k}),
                       t.bias ? Tensor::from_vector<float>(b, {oc}) : Tensor(), {s, s}, {t.p, t.p}, {d, d}, t.c);
            ASSERT_EQ(y.sizes(), (Shape{t.n, oc, oh, ow}));
            const std::vector<float> got = y.to_vector<float>();
            const std::vector<double> want = direct(t, x, wt, b, oh, ow);
            for (size_t i = 0; i < want.size(); ++i)
              ASSERT_NEAR(got[i], want[i], 1e-5 * (1 + std::abs(want[i])))
                  << "kernel " << k << " stride " << s << " dilation " << d << " " << h << "x" << w << " multiplier "
                  << mult << (t.bias ? " bias" : "") << ": output " << i;
            ++checked;
          }
  EXPECT_GT(checked, 60);
}

}  // namespace
}  // namespace aotgrad
