// A convolution and the max pool after it as one kernel, in 16-channel blocks (Note
// [A convolution and its pool in channel blocks] in conv_max_pool.cpp).
#pragma once

#include "ops/registry.h"

namespace aotgrad::ops::cpu {

/// OpInfo::then_max_pool for convolution: false (nothing written) where the pair is
/// not float32 on an AVX-512 CPU, one group, no dilation, a ReLU or no epilogue, a
/// pool without dilation into a contiguous output, or rows under five positions.
bool convolution_then_max_pool(const Args& conv, const Epilogue* epilogue, const Args& pool, Outputs& pool_outs);

}  // namespace aotgrad::ops::cpu
