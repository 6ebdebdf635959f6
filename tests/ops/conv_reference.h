// A 2-d convolution as a plain sum in double, the reference the direct convolution
// kernels' tests compare with.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ops/cpu/conv_few_taps_avx512.h"

namespace aotgrad::testing {

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

/// A kernel's output (image i's block of `block` floats at y + i * y_image) against
/// the reference (with a ReLU applied when `relu`), each output k of it within
/// tolerance(k), and the floats between the images still 42 (what the caller put there).
template <typename Tolerance>
void expect_images_match(const std::vector<float>& y, int64_t n, int64_t block, int64_t y_image,
                         const std::vector<double>& want, bool relu, Tolerance tolerance, const std::string& what) {
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < block; ++k) {
      const auto at = static_cast<size_t>(i * block + k);
      const double expected = relu && want[at] < 0 ? 0.0 : want[at];
      ASSERT_NEAR(y[static_cast<size_t>(i * y_image + k)], expected, tolerance(at))
          << what << ", image " << i << ", output " << k;
    }
    for (int64_t k = block; k < y_image; ++k)
      ASSERT_EQ(y[static_cast<size_t>(i * y_image + k)], 42.0f) << what << ": the gap after image " << i;
  }
}

}  // namespace aotgrad::testing
