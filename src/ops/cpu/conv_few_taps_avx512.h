// Convolutions whose every output reads few inputs (a network's first layer: 3
// channels, 3x3), computed directly (Note [Few taps] in conv_few_taps_avx512.cpp).
#pragma once

#include <cstdint>

#include "ops/elementwise.h"

namespace aotgrad::ops::cpu {

struct FewTapsConv {
  int64_t n, c, h, w;  // input
  int64_t oc, kh, kw;  // weight [oc, c, kh, kw]
  int64_t sh, sw, ph, pw;
  int64_t oh() const { return (h + 2 * ph - kh) / sh + 1; }
  int64_t ow() const { return (w + 2 * pw - kw) / sw + 1; }
};

/// y = conv(x, w) + bias (bias may be null), then the epilogue (null: none), image i's
/// output the contiguous [oc, oh, ow] block at y + i * y_image (0: images packed). Returns
/// false, writing nothing, where this path does not apply: no AVX-512, more than
/// kMaxTaps taps (c * kh * kw), a stride other than 1 or 2, empty sizes.
bool conv2d_few_taps_forward(const FewTapsConv& s, const float* x, const float* w, const float* bias,
                             const Epilogue* epilogue, float* y, int64_t y_image = 0);

}  // namespace aotgrad::ops::cpu
