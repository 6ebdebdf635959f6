// Float depthwise convolutions (16 outputs per vector on AVX-512 CPUs, Note
// [Depthwise rows in vectors]) against a direct convolution in double precision —
// the output, the input gradient and the weight gradient: kernels 3 and 5, strides
// 1-3, padding, dilation, rows wider than 16 outputs, a depth multiplier of 2, with
// and without a bias.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "aotgrad/ops.h"

namespace aotgrad {
namespace {

struct Case {
  int64_t n, c, mult, h, w, k, s, p, d;
  bool bias;
};

struct Direct {
  std::vector<double> y, gx, gw;
};

// The output and, for the output gradient gy, the input and weight gradients.
Direct direct(const Case& t, const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& b,
              const std::vector<float>& gy, int64_t oh, int64_t ow) {
  const int64_t oc = t.c * t.mult;
  Direct r;
  r.gx.assign(x.size(), 0);
  r.gw.assign(w.size(), 0);
  for (int64_t n = 0; n < t.n; ++n)
    for (int64_t o = 0; o < oc; ++o)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          double acc = t.bias ? b[static_cast<size_t>(o)] : 0.0;
          const double g = gy[r.y.size()];
          for (int64_t ki = 0; ki < t.k; ++ki)
            for (int64_t kj = 0; kj < t.k; ++kj) {
              const int64_t iy = oy * t.s - t.p + ki * t.d, ix = ox * t.s - t.p + kj * t.d;
              if (iy < 0 || iy >= t.h || ix < 0 || ix >= t.w) continue;
              const auto wi = static_cast<size_t>((o * t.k + ki) * t.k + kj);
              const auto xi = static_cast<size_t>(((n * t.c + o / t.mult) * t.h + iy) * t.w + ix);
              acc += static_cast<double>(w[wi]) * x[xi];
              r.gx[xi] += g * w[wi];
              r.gw[wi] += g * x[xi];
            }
          r.y.push_back(acc);
        }
  return r;
}

void expect_near(const std::vector<float>& got, const std::vector<double>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-4 * (1 + std::abs(want[i]))) << what << ": element " << i;
}

std::vector<float> normal_values(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  for (float& e : v) e = normal(rng);
  return v;
}

TEST(Depthwise, OutputAndGradientsMatchADirectConvolution) {
  std::mt19937 rng(3);
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
            const std::vector<float> x = normal_values(static_cast<size_t>(t.n * t.c * h * w), rng),
                                     wt = normal_values(static_cast<size_t>(oc * k * k), rng),
                                     b = normal_values(static_cast<size_t>(oc), rng),
                                     gy = normal_values(static_cast<size_t>(t.n * oc * oh * ow), rng);
            const Tensor xt = Tensor::from_vector<float>(x, {t.n, t.c, h, w}),
                         wtt = Tensor::from_vector<float>(wt, {oc, 1, k, k});
            const Tensor y = conv2d(xt, wtt, t.bias ? Tensor::from_vector<float>(b, {oc}) : Tensor(), {s, s},
                                    {t.p, t.p}, {d, d}, t.c);
            ASSERT_EQ(y.sizes(), (Shape{t.n, oc, oh, ow}));
            auto [gx, gw, gb] =
                convolution_backward(Tensor::from_vector<float>(gy, y.sizes()), xt, wtt, IntList{oc}, {s, s},
                                     {t.p, t.p}, {d, d}, false, {0, 0}, t.c, {true, true, false});
            const Direct want = direct(t, x, wt, b, gy, oh, ow);
            const std::string what = "kernel " + std::to_string(k) + " stride " + std::to_string(s) + " dilation " +
                                     std::to_string(d) + " " + std::to_string(h) + "x" + std::to_string(w) +
                                     " multiplier " + std::to_string(mult);
            expect_near(y.to_vector<float>(), want.y, what + " output");
            expect_near(gx.to_vector<float>(), want.gx, what + " input gradient");
            expect_near(gw.to_vector<float>(), want.gw, what + " weight gradient");
            ++checked;
          }
  EXPECT_GT(checked, 60);
}

// Note [Depthwise channels in vectors]: many channels on small maps (MobileNet's last
// layers) are computed channels-last, the larger maps in bands of output rows (72
// channels of 16x16 at stride 2: eight output rows in four bands; 88 of 8x8). Against
// the direct convolution, and bit for bit against the same channels two at a time
// (which the row kernel computes).
TEST(Depthwise, ManyChannelsOnSmallMapsMatchTheRowKernelBitForBit) {
  std::mt19937 rng(5);
  struct Small {
    int64_t c, h, k, s;
  };
  for (const Small sm : {Small{40, 4, 5, 1}, Small{96, 8, 5, 2}, Small{33, 2, 3, 1}, Small{576, 2, 5, 1},
                         Small{72, 16, 3, 2}, Small{88, 8, 3, 1}}) {
    const Case t{2, sm.c, 1, sm.h, sm.h, sm.k, sm.s, sm.k / 2, 1, true};
    const int64_t o = (sm.h + 2 * t.p - sm.k) / sm.s + 1;
    const std::vector<float> x = normal_values(static_cast<size_t>(t.n * t.c * sm.h * sm.h), rng),
                             w = normal_values(static_cast<size_t>(t.c * sm.k * sm.k), rng),
                             b = normal_values(static_cast<size_t>(t.c), rng);
    const Tensor xt = Tensor::from_vector<float>(x, {t.n, t.c, sm.h, sm.h});
    const Tensor wt = Tensor::from_vector<float>(w, {t.c, 1, sm.k, sm.k}), bt = Tensor::from_vector<float>(b, {t.c});
    const Tensor y = conv2d(xt, wt, bt, {sm.s, sm.s}, {t.p, t.p}, {1, 1}, t.c);
    const std::string what = std::to_string(sm.c) + " channels " + std::to_string(sm.h) + "x" + std::to_string(sm.h);
    const std::vector<float> gy(static_cast<size_t>(t.n * t.c * o * o), 0.0f);
    expect_near(y.to_vector<float>(), direct(t, x, w, b, gy, o, o).y, what);
    for (int64_t c = 0; c + 2 <= t.c; c += 7) {
      const Tensor two = conv2d(contiguous(slice(xt, 1, c, c + 2)), contiguous(slice(wt, 0, c, c + 2)),
                                contiguous(slice(bt, 0, c, c + 2)), {sm.s, sm.s}, {t.p, t.p}, {1, 1}, 2);
      ASSERT_EQ(contiguous(slice(y, 1, c, c + 2)).to_vector<float>(), two.to_vector<float>())
          << what << " channel " << c;
    }
  }
}

}  // namespace
}  // namespace aotgrad
