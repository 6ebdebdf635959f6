// 3x3 convolutions at stride 1 by Winograd's minimal filtering, F(2x2, 3x3)
// (Note [Winograd F(2x2, 3x3)] in conv_winograd_avx512.cpp).
#pragma once

#include <cstdint>

#include "ops/cpu/conv_few_taps_avx512.h"

namespace aotgrad::ops::cpu {

/// Whether this path is the faster one for these sizes (measured against the direct
/// paths; the comment on the definition has the numbers).
bool conv2d_winograd_pays(const FewTapsConv& s);

/// y = conv(x, w) + bias (bias may be null) for a 3x3 kernel at stride 1 (any
/// padding), stored with `relu` (x < 0 ? 0 : x) when set; image i's output the
/// contiguous [oc, oh, ow] block at y + i * y_image (0: images packed). Returns false,
/// writing nothing, where this path does not apply: another kernel or stride, no
/// AVX-512, empty sizes, or an input or weight that is not finite (a NaN or infinity
/// would spread through a tile's transform to outputs whose windows never saw it).
bool conv2d_winograd_forward(const FewTapsConv& s, const float* x, const float* w, const float* bias, bool relu,
                             float* y, int64_t y_image = 0);

}  // namespace aotgrad::ops::cpu
