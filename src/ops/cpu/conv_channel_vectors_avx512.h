// Convolutions of small maps with many taps, computed with output channels in the
// vectors (Note [Output channels in vectors] in conv_channel_vectors_avx512.cpp).
#pragma once

#include <cstdint>
#include <functional>

#include "ops/cpu/conv_few_taps_avx512.h"

namespace aotgrad::ops::cpu {

/// Whether the output-channel-vector path is the faster one for these sizes.
bool conv2d_channel_vectors_pays(const FewTapsConv& s);

/// y = conv(x, w) + bias (bias may be null), stored with `relu` (x < 0 ? 0 : x) when
/// set; image i's output the contiguous [oc, oh, ow] block at y + i * y_image. Returns
/// false, writing nothing, where this path does not apply (no AVX-512, empty sizes).
bool conv2d_channel_vectors_forward(const FewTapsConv& s, const float* x, const float* w, const float* bias, bool relu,
                                    float* y, int64_t y_image);

/// The same convolution image by image, each image's output in 16-channel blocks
/// ([block][oh][ow][16], the channels past oc zero, with `relu` applied): the images
/// split over the threads, each thread calls then(image, blocks, has_nan) on an image
/// once it is done (has_nan: some output is NaN), and its blocks are overwritten by
/// its next image. A kernel that reads the
/// convolution's output alone takes it so, in cache and with 16 channels a vector
/// (Note [A convolution and its pool in channel blocks] in conv_max_pool.cpp).
bool conv2d_channel_blocks_each_image(const FewTapsConv& s, const float* x, const float* w, const float* bias,
                                      bool relu, const std::function<void(int64_t, const float*, bool)>& then);

/// w [oc, K] (row-major) -> packed [blocks][K][16], blocks = ceil(oc / 16), the
/// channels past oc zero: the weight layout the kernels here read. AVX-512 only.
void pack_channel_blocks(const float* w, int64_t oc, int64_t K, float* packed);

/// The 16 floats at y + (block * positions + p) * y_step = the sum over k of x[k][p] *
/// packed[block][k][16], for p < positions: a 1x1 convolution of one image of `c`
/// planes of `positions` floats, with a weight from pack_channel_blocks (K = c),
/// written in blocks as it is (no bias, no epilogue; y_step 16: [block][p][16]), on
/// this thread. The product stage of other kernels (conv_winograd_avx512.cpp). Writes
/// nothing without AVX-512.
void channel_vectors_product(const float* x, int64_t c, int64_t positions, const float* packed, int64_t oc, float* y,
                             int64_t y_step = 16);

}  // namespace aotgrad::ops::cpu
