// A 2-d convolution as a plain sum in double, the reference the direct convolution
// kernels' tests compare with.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "aotgrad/random.h"
#include "ops/cpu/conv_few_taps_avx512.h"
#include "support/parallel.h"

namespace aotgrad::testing {

/// n floats drawn from a standard normal.
inline std::vector<float> random_values(int64_t n) {
  return randn({n}).to_vector<float>();
}

/// "n 2 c 16 15x15 -> oc 64, kernel 3x3 stride 1,1 pad 1,1": a case in a failure message.
inline std::string describe(const ops::cpu::FewTapsConv& s) {
  return "n " + std::to_string(s.n) + " c " + std::to_string(s.c) + " " + std::to_string(s.h) + "x" +
         std::to_string(s.w) + " -> oc " + std::to_string(s.oc) + ", kernel " + std::to_string(s.kh) + "x" +
         std::to_string(s.kw) + " stride " + std::to_string(s.sh) + "," + std::to_string(s.sw) + " pad " +
         std::to_string(s.ph) + "," + std::to_string(s.pw);
}

/// y[i, o, oy, ox] = bias[o] + the sum over taps inside the input (null bias: 0).
/// With `magnitude`, also the sum of the terms' absolute values at each output (the
/// scale a rounding error of the sum is measured against).
inline std::vector<double> reference_convolution(const ops::cpu::FewTapsConv& s, const std::vector<float>& x,
                                                 const std::vector<float>& w, const float* bias,
                                                 std::vector<double>* magnitude = nullptr) {
  const int64_t oh = s.oh(), ow = s.ow();
  std::vector<double> y(static_cast<size_t>(s.n * s.oc * oh * ow));
  if (magnitude != nullptr) magnitude->assign(y.size(), 0.0);
  for (int64_t i = 0; i < s.n; ++i)
    for (int64_t o = 0; o < s.oc; ++o)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          double sum = bias != nullptr ? bias[o] : 0.0, size = std::abs(sum);
          for (int64_t c = 0; c < s.c; ++c)
            for (int64_t ki = 0; ki < s.kh; ++ki)
              for (int64_t kj = 0; kj < s.kw; ++kj) {
                const int64_t iy = oy * s.sh - s.ph + ki, ix = ox * s.sw - s.pw + kj;
                if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                const double term = double(w[static_cast<size_t>(((o * s.c + c) * s.kh + ki) * s.kw + kj)]) *
                                    x[static_cast<size_t>(((i * s.c + c) * s.h + iy) * s.w + ix)];
                sum += term;
                size += std::abs(term);
              }
          const auto at = static_cast<size_t>(((i * s.oc + o) * oh + oy) * ow + ox);
          y[at] = sum;
          if (magnitude != nullptr) (*magnitude)[at] = size;
        }
  return y;
}

/// The check the direct kernels that store with a ReLU share, `kernel(s, x, w, bias,
/// relu, y, y_image)` returning whether it took the sizes: each case with and without
/// a bias and a ReLU, at 1 and 2 threads, images packed (y_image 0) or, with the ReLU,
/// 7 floats further apart than their blocks (as in a concatenation's slice), every
/// output within tolerance(value, size of its terms) of the double-precision sum and
/// the gaps left as they were (42). The variants checked, or -1 after a failure.
template <typename Kernel, typename Tolerance>
int check_against_reference(const std::vector<ops::cpu::FewTapsConv>& cases, Kernel kernel, Tolerance tolerance) {
  const int before = num_threads();
  int checked = 0;
  for (const ops::cpu::FewTapsConv& s : cases)
    for (bool with_bias : {true, false})
      for (bool relu : {false, true})
        for (int threads : {1, 2}) {
          set_num_threads(threads);
          const std::vector<float> x = random_values(s.n * s.c * s.h * s.w),
                                   w = random_values(s.oc * s.c * s.kh * s.kw), b = random_values(s.oc);
          const float* bias = with_bias ? b.data() : nullptr;
          const int64_t block = s.oc * s.oh() * s.ow(), y_image = block + (relu ? 7 : 0);
          std::vector<float> y(static_cast<size_t>(s.n * y_image), 42.0f);
          const std::string what = describe(s) + ", threads " + std::to_string(threads) + (with_bias ? ", bias" : "") +
                                   (relu ? ", relu" : "");
          const bool took = kernel(s, x.data(), w.data(), bias, relu, y.data(), relu ? y_image : 0);
          set_num_threads(before);
          EXPECT_TRUE(took) << what;
          if (!took) return -1;
          std::vector<double> size;
          const std::vector<double> want = reference_convolution(s, x, w, bias, &size);
          for (int64_t i = 0; i < s.n; ++i) {
            for (int64_t k = 0; k < block; ++k) {
              const auto at = static_cast<size_t>(i * block + k);
              const double expected = relu && want[at] < 0 ? 0.0 : want[at];
              EXPECT_NEAR(y[static_cast<size_t>(i * y_image + k)], expected, tolerance(want[at], size[at]))
                  << what << ", image " << i << ", output " << k;
              if (::testing::Test::HasFailure()) return -1;
            }
            for (int64_t k = block; k < y_image; ++k) {
              EXPECT_EQ(y[static_cast<size_t>(i * y_image + k)], 42.0f) << what << ": the gap after image " << i;
              if (::testing::Test::HasFailure()) return -1;
            }
          }
          ++checked;
        }
  return checked;
}

}  // namespace aotgrad::testing
