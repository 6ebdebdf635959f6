// A 2-d convolution as a plain sum in double, the reference the direct convolution
// kernels' tests compare with.
#pragma once

#include <cmath>
#include <cstdint>
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

}  // namespace aotgrad::testing
