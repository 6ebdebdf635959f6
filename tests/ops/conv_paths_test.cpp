// The float convolution against a direct double-precision sum, with a bias, on the
// paths that store a product's columns through segments (Note [Columns in segments]
// in ops/cpu/sgemm_avx512.cpp): one image a product (a 1x1 convolution read in place,
// a strided one through im2col), images side by side (small maps; 1x1 ones read
// where they are), grouped; at 1
// thread (the segments) and 2 (each thread its images, or the plain product split over
// the threads when there are fewer images than threads).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "support/parallel.h"

namespace aotgrad {
namespace {

struct PathCase {
  std::string path;
  int64_t n, c, h, oc, k, stride, pad, groups;
};

// y[i, o, r, x] = bias[o] + sum over the group's channels and taps, in double.
std::vector<double> direct(const PathCase& s, const std::vector<double>& x, const std::vector<double>& w,
                           const std::vector<double>& b) {
  const int64_t oh = (s.h + 2 * s.pad - s.k) / s.stride + 1, cg = s.c / s.groups, ocg = s.oc / s.groups;
  std::vector<double> y(static_cast<size_t>(s.n * s.oc * oh * oh));
  for (int64_t i = 0; i < s.n; ++i)
    for (int64_t o = 0; o < s.oc; ++o)
      for (int64_t r = 0; r < oh; ++r)
        for (int64_t q = 0; q < oh; ++q) {
          double acc = b[static_cast<size_t>(o)];
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t ki = 0; ki < s.k; ++ki)
              for (int64_t kj = 0; kj < s.k; ++kj) {
                const int64_t iy = r * s.stride - s.pad + ki, ix = q * s.stride - s.pad + kj;
                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.h) continue;
                const int64_t ch = o / ocg * cg + c;
                acc += w[static_cast<size_t>(((o * cg + c) * s.k + ki) * s.k + kj)] *
                       x[static_cast<size_t>(((i * s.c + ch) * s.h + iy) * s.h + ix)];
              }
          y[static_cast<size_t>(((i * s.oc + o) * oh + r) * oh + q)] = acc;
        }
  return y;
}

TEST(ConvPaths, MatchADirectSumWithTheBias) {
  const std::vector<PathCase> cases = {
      {"1x1, one image a product", 3, 16, 15, 40, 1, 1, 0, 1},
      {"1x1 on small maps, images side by side", 5, 24, 3, 20, 1, 1, 0, 1},
      {"1x1 on 7x7 maps, images side by side read where they are", 4, 12, 7, 24, 1, 1, 0, 1},
      {"3x3 on small maps, images side by side", 4, 8, 3, 36, 3, 1, 1, 1},
      {"3x3 stride 2, one image a product", 2, 5, 41, 17, 3, 2, 1, 1},
      {"grouped, images side by side", 3, 8, 5, 12, 3, 1, 1, 2},
      {"one image at 2 threads, the product split", 1, 32, 7, 48, 1, 1, 0, 1},
  };
  const int before = num_threads();
  for (int threads : {1, 2})
    for (const PathCase& s : cases) {
      SCOPED_TRACE(s.path + " at " + std::to_string(threads) + " threads");
      set_num_threads(threads);
      const Tensor x = randn({s.n, s.c, s.h, s.h}), w = randn({s.oc, s.c / s.groups, s.k, s.k}), b = randn({s.oc});
      const Tensor y = convolution(x, w, b, {s.stride, s.stride}, {s.pad, s.pad}, {1, 1}, false, {0, 0}, s.groups);
      const std::vector<double> want = direct(s, x.to_vector<double>(), w.to_vector<double>(), b.to_vector<double>());
      const std::vector<double> got = y.to_vector<double>();
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4 * (1 + std::abs(want[i]))) << i;
    }
  set_num_threads(before);
}

}  // namespace
}  // namespace aotgrad
