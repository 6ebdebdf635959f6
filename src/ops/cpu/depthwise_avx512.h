// Depthwise convolutions (one input channel per group) with 16 outputs of a row per
// AVX-512 vector (Note [Depthwise rows in vectors] in depthwise_avx512.cpp).
#pragma once

#include <cstdint>

namespace aotgrad::ops::cpu {

/// Input c × h × w per image, oc output channels (oc / c per input channel), kernel
/// kh × kw, output oh × ow, strides, paddings and dilations.
struct DepthwiseSizes {
  int64_t c, h, w, oc, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw;
};

/// Output planes [p0, p1) (plane p is image p / oc, channel p % oc) of the float
/// depthwise convolution y = bias + Σ taps w · x, the taps summed in the scalar
/// kernel's order. Returns false, writing nothing, when the CPU lacks AVX-512.
bool depthwise_forward_avx512(const DepthwiseSizes& g, int64_t p0, int64_t p1, const float* x, const float* w,
                              const float* bias, float* y);

/// The whole output of `n` images, 16 channels per vector (Note [Depthwise channels
/// in vectors]), bit for bit what depthwise_forward_avx512 computes. Returns false,
/// writing nothing, where it would not pay (rows that fill the row kernel's vectors,
/// few channels, a depth multiplier) or the CPU lacks AVX-512.
bool depthwise_forward_channels_avx512(const DepthwiseSizes& g, int64_t n, const float* x, const float* w,
                                       const float* bias, float* y);

/// Input-gradient planes [p0, p1) (plane p is image p / c, channel p % c): gx = Σ over
/// the channel's outputs and taps of w · gy. False, writing nothing, without AVX-512.
bool depthwise_input_grad_avx512(const DepthwiseSizes& g, int64_t p0, int64_t p1, const float* gy, const float* w,
                                 float* gx);

/// Weight gradients of output channels [o0, o1) over `n` images: gw[o, tap] = Σ gy · x,
/// each row's products summed in float lanes, rows and images in double. False,
/// writing nothing, without AVX-512.
bool depthwise_weight_grad_avx512(const DepthwiseSizes& g, int64_t n, int64_t o0, int64_t o1, const float* gy,
                                  const float* x, float* gw);

}  // namespace aotgrad::ops::cpu
