// The im2col matrix of a float convolution, 16 columns per AVX-512 vector (Note
// [im2col rows in vectors] in im2col_avx512.cpp).
#pragma once

#include <cstdint>

namespace aotgrad::ops::cpu {

/// A convolution's input planes (c of h x w), output map (oh x ow) and window.
struct Im2colGeometry {
  int64_t c, h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw;
};

/// col[(ci, ki, kj), (oy, ox)] = x[ci, oy*sh - ph + ki*dh, ox*sw - pw + kj*dw], 0 outside
/// the input; col's rows are `ld` floats apart. Returns false, writing nothing, when
/// the CPU lacks AVX-512.
bool im2col_avx512(const Im2colGeometry& g, const float* x, float* col, int64_t ld);

}  // namespace aotgrad::ops::cpu
