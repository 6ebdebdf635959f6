// Copies that transpose (Note [Transposing copies] in transpose_copy.cpp).
#pragma once

#include "aotgrad/tensor.h"

namespace aotgrad::ops::cpu {

/// Copies `src` into the contiguous `dst` of the same sizes and 4-byte dtype in 8x8
/// register transposes when the source is contiguous along a dim other than the
/// last and the last is strided; returns false, copying nothing, for any other pair.
bool copy_transposing(const Tensor& dst, const Tensor& src);

}  // namespace aotgrad::ops::cpu
