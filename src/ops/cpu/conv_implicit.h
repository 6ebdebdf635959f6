// Stride-1 2-d convolutions as implicit GEMMs on AVX-512 (Note [Implicit GEMM] in
// conv_implicit.cpp).
#pragma once

#include <cstdint>

#include "ops/elementwise.h"

namespace aotgrad::ops::cpu {

/// The sizes of a stride-1, undilated, ungrouped 2-d convolution (NCHW).
struct Conv2dSizes {
  int64_t n, c, h, w;  // input
  int64_t oc, kh, kw;  // weight [oc, c, kh, kw]
  int64_t ph, pw;      // padding
  int64_t oh() const { return h + 2 * ph - kh + 1; }
  int64_t ow() const { return w + 2 * pw - kw + 1; }
};

/// Planes [p0, p1) of h x w, each copied into the middle of its (h + 2 ph) x (w + 2 pw)
/// zeros in `out` (plane p at p * (h + 2 ph) * (w + 2 pw)).
void pad_planes(const float* x, int64_t p0, int64_t p1, int64_t h, int64_t w, int64_t ph, int64_t pw, float* out);

/// Whether this path is faster than im2col for these sizes (the kernels below
/// compute any they accept; this is the choice).
bool conv2d_implicit_pays(const Conv2dSizes& s);

/// y = conv(x, w) + bias (bias may be null), then the epilogue (null: none) on each
/// image's output as it is finished; image i's output is the contiguous [oc, oh, ow]
/// block at y + i * y_image (0: oc * oh * ow, images packed). Returns false, writing
/// nothing, where this path does not apply (no AVX-512, a padding as wide as the
/// kernel, empty sizes): the caller computes it another way.
bool conv2d_implicit_forward(const Conv2dSizes& s, const float* x, const float* w, const float* bias,
                             const Epilogue* epilogue, float* y, int64_t y_image = 0);

/// The input gradient gx and the weight gradient gw (either may be null: not
/// wanted) of the same convolution, given the output gradient gy; gw is written, not
/// accumulated. Returns false, writing nothing, where conv2d_implicit_forward would.
bool conv2d_implicit_backward(const Conv2dSizes& s, const float* gy, const float* x, const float* w, float* gx,
                              float* gw);

}  // namespace aotgrad::ops::cpu
