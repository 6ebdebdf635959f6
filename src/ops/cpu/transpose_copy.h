// Copies that transpose (Note [Transposing copies] in transpose_copy.cpp).
#pragma once

#include "aotgrad/tensor.h"

namespace aotgrad::ops::cpu {

/// Copies `src` into the contiguous `dst` of the same sizes and 4-byte dtype in 8x8
/// register transposes when the source is contiguous along a dim other than the
/// last and the last is strided; returns false, copying nothing, for any other pair.
bool copy_transposing(const Tensor& dst, const Tensor& src);

/// One float [rows x cols] block: dst[i][j] (row stride ds) = src[i + j * ss] (src
/// contiguous along i), in 8x8 register transposes where whole tiles fit.
void transpose_block(const float* src, int64_t ss, float* dst, int64_t ds, int64_t rows, int64_t cols);

}  // namespace aotgrad::ops::cpu
