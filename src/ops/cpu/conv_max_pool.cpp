// Note [A convolution and its pool in channel blocks]: a network's first convolution
// and the max pool after it (SqueezeNet: 3 -> 64 channels, 64x64 -> 31x31 at stride 2,
// then 3x3 windows at stride 2) ran as two kernels on NCHW maps, image by image
// through a scratch in L2 (Note [Images through two kernels]), and the pool's stride-2
// rows need a permute every vector: the pair took 190-225 us at 1 thread on Zen 5,
// ONNX Runtime's 129 + 25 (node profiles). Here the convolution computes each image
// with output channels in vectors (Note [Output channels in vectors] in
// conv_channel_vectors_avx512.cpp) into 16-channel blocks, which the pool reads as they
// are: a window's max is the max of whole vectors, 16 channels at once, no permute,
// and only the pool's output, a quarter the size, is transposed into NCHW rows. The
// pair: 188 against 225 us in the same minutes (the compiled model's node profile).
//
// The values are the two kernels': the convolution sums its taps in im2col's order
// and adds the bias last, as every convolution path does, and its stores note whether
// an image holds a NaN. Without one, the pool maximises each window's rows column by
// column and then its columns, as the values-alone pool kernel does (Note [Separable
// windows] in max_pool_avx512.cpp); with one, it takes lane by lane, in window order,
// each element greater, or NaN, as the pool kernels do. A window wholly in the padding
// is -inf.
#include "ops/cpu/conv_max_pool.h"

#include <immintrin.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "ops/cpu/conv_channel_vectors_avx512.h"
#include "ops/cpu/cpu_features.h"
#include "ops/cpu/epilogue.h"
#include "ops/cpu/lanes_avx512.h"
#include "ops/cpu/loops.h"
#include "ops/shape/pool_params.h"

namespace aotgrad::ops::cpu {

namespace {

// The pool's input in 16-channel blocks ([block][h][w][16]), its NCHW output.
struct BlockedPool {
  int64_t channels, h, w, oh, ow;
  PoolParams p;
};

// Whether window element (ky, kx) of output (oy, ox) lies inside the input.
inline bool inside(const BlockedPool& s, int64_t oy, int64_t ox, int64_t ky, int64_t kx) {
  const int64_t iy = oy * s.p.sh - s.p.ph + ky, ix = ox * s.p.sw - s.p.pw + kx;
  return iy >= 0 && iy < s.h && ix >= 0 && ix < s.w;
}

// m = v where v is greater, or NaN (lane by lane), v the 16 floats at `at`.
__attribute__((target("avx512f"), always_inline)) inline void take_greater_or_nan(__m512& m, const float* at) {
  const __m512 v = _mm512_loadu_ps(at);
  m = _mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
}

// The window maxima of output row oy, positions [ox0, ox0 + n) (the rest zero), from
// -inf, each element greater, or NaN, taken in window order: the pool kernels take the
// first element and then the same rule, which gives the same value.
__attribute__((target("avx512f"))) void exact_maxima(const BlockedPool& s, const float* xb, int64_t oy, int64_t ox0,
                                                     int64_t n, __m512* m) {
  const int64_t step = s.p.sw * kLanes;
  const float* a = xb + ((oy * s.p.sh - s.p.ph) * s.w + ox0 * s.p.sw - s.p.pw) * kLanes;
  for (int q = 0; q < kLanes; ++q)
    m[q] = q < n ? _mm512_set1_ps(-std::numeric_limits<float>::infinity()) : _mm512_setzero_ps();
  for (int64_t ky = 0; ky < s.p.kh; ++ky)
    for (int64_t kx = 0; kx < s.p.kw; ++kx)
      for (int q = 0; q < n; ++q)
        if (inside(s, oy, ox0 + q, ky, kx)) take_greater_or_nan(m[q], a + (ky * s.w + kx) * kLanes + q * step);
}

// A row of column maxima (a vector of 16 channels a column) between margins of -inf
// (the padding's columns, and those a ceil-mode window hangs past the input).
struct ColumnMaxima {
  int64_t margin;  // columns
  std::vector<float> floats;
  explicit ColumnMaxima(const BlockedPool& s)
      : margin(s.p.kw + s.p.pw + s.p.sw),
        floats(static_cast<size_t>((s.w + 2 * margin) * kLanes), -std::numeric_limits<float>::infinity()) {}
  float* column(int64_t ix) { return floats.data() + (margin + ix) * kLanes; }
};

// Without a NaN, separably (Note [Separable windows] in max_pool_avx512.cpp: max is
// exact in any order): output row oy's window rows maximised column by column, then
// each window's columns; 9 loads and maxima a 3x3 window became about 4.5 at stride 2.
__attribute__((target("avx512f"))) void separable_maxima(const BlockedPool& s, ColumnMaxima& cols, int64_t ox0,
                                                         int64_t n, __m512* m) {
  for (int q = 0; q < kLanes; ++q) {
    if (q >= n) {
      m[q] = _mm512_setzero_ps();
      continue;
    }
    const float* w = cols.column((ox0 + q) * s.p.sw - s.p.pw);
    __m512 v = _mm512_loadu_ps(w);
    for (int64_t kx = 1; kx < s.p.kw; ++kx) v = _mm512_max_ps(_mm512_loadu_ps(w + kx * kLanes), v);
    m[q] = v;
  }
}

// Column maxima of output row oy's window rows.
__attribute__((target("avx512f"))) void column_maxima(const BlockedPool& s, const float* xb, int64_t oy,
                                                      ColumnMaxima& cols) {
  const int64_t y0 = oy * s.p.sh - s.p.ph;
  const int64_t ky0 = std::max<int64_t>(0, -y0), ky1 = std::min<int64_t>(s.p.kh, s.h - y0);
  float* out = cols.column(0);
  if (ky0 >= ky1) {
    std::fill(out, out + s.w * kLanes, -std::numeric_limits<float>::infinity());
    return;
  }
  const float* first = xb + (y0 + ky0) * s.w * kLanes;
  for (int64_t ix = 0; ix < s.w; ++ix) {
    __m512 v = _mm512_loadu_ps(first + ix * kLanes);
    for (int64_t ky = ky0 + 1; ky < ky1; ++ky)
      v = _mm512_max_ps(_mm512_loadu_ps(first + ((ky - ky0) * s.w + ix) * kLanes), v);
    _mm512_storeu_ps(out + ix * kLanes, v);
  }
}

// y[c][oy][ox] for c < channels: each block's windows, 16 output positions of a row
// at a time, transposed into the rows of the block's channels; separably where the
// convolution stored no NaN, else by the exact rule.
__attribute__((target("avx512f"))) void max_pool_blocks(const BlockedPool& s, const float* x, float* y, bool has_nan) {
  const int64_t blocks = (s.channels + kLanes - 1) / kLanes, out_plane = s.oh * s.ow;
  ColumnMaxima cols(s);
  for (int64_t b = 0; b < blocks; ++b) {
    const float* xb = x + b * s.h * s.w * kLanes;
    const int64_t channels = std::min<int64_t>(kLanes, s.channels - b * kLanes);
    for (int64_t oy = 0; oy < s.oh; ++oy) {
      if (!has_nan) column_maxima(s, xb, oy, cols);
      for (int64_t ox0 = 0; ox0 < s.ow; ox0 += kLanes) {
        const int64_t n = std::min<int64_t>(kLanes, s.ow - ox0);
        __m512 m[kLanes];
        if (has_nan)
          exact_maxima(s, xb, oy, ox0, n, m);
        else
          separable_maxima(s, cols, ox0, n, m);
        transpose16(m);
        for (int64_t l = 0; l < channels; ++l)
          _mm512_mask_storeu_ps(y + (b * kLanes + l) * out_plane + oy * s.ow + ox0, first_lanes(n), m[l]);
      }
    }
  }
}

}  // namespace

bool convolution_then_max_pool(const Args& conv, const Epilogue* epilogue, const Args& pool, Outputs& pool_outs) {
  const Tensor& x = conv[0].to_tensor();
  const Tensor& w = conv[1].to_tensor();
  const Tensor& y = pool_outs[0].to_tensor();
  if (!has_avx512() || x.dtype() != DType::Float32 || y.dtype() != DType::Float32 || !y.is_contiguous()) return false;
  if (epilogue != nullptr && !is_relu(epilogue)) return false;
  if (x.dim() != 4 || w.dim() != 4 || y.dim() != 4 || conv[6].to_bool() || conv[8].to_int() != 1) return false;
  const IntList stride = window_pair(conv[3], "convolution", "stride"),
                pad = window_pair(conv[4], "convolution", "padding"),
                dilation = window_pair(conv[5], "convolution", "dilation");
  if (dilation != IntList{1, 1}) return false;
  const PoolParams p = pool_params(pool[1], pool[2], pool[3], &pool[4], pool[5].to_bool(), "max_pool2d");
  if (p.dh != 1 || p.dw != 1) return false;
  const FewTapsConv s{x.sizes()[0], x.sizes()[1], x.sizes()[2], x.sizes()[3], w.sizes()[0], w.sizes()[2],
                      w.sizes()[3], stride[0],    stride[1],    pad[0],       pad[1]};
  if (s.ow() < 5) return false;  // a weight vector serves too few positions (conv2d_channel_vectors_pays)
  const BlockedPool bp{s.oc, s.oh(), s.ow(), y.sizes()[2], y.sizes()[3], p};
  const Shape pooled{s.n, s.oc, conv_out_size(bp.h, p.kh, p.sh, p.ph, 1, p.ceil),
                     conv_out_size(bp.w, p.kw, p.sw, p.pw, 1, p.ceil)};
  if (y.sizes() != pooled) return false;  // (the shape rules make it so: not a pair of these two)
  const Tensor xc = as_contiguous(x), wc = as_contiguous(w);
  const Tensor b = conv[2].is_none() ? Tensor() : as_contiguous(conv[2].to_tensor());
  float* out = y.data_ptr<float>();
  const int64_t image = s.oc * bp.oh * bp.ow;
  return conv2d_channel_blocks_each_image(
      s, xc.data_ptr<float>(), wc.data_ptr<float>(), b.defined() ? b.data_ptr<float>() : nullptr, epilogue != nullptr,
      [&](int64_t i, const float* blocks, bool has_nan) { max_pool_blocks(bp, blocks, out + i * image, has_nan); });
}

}  // namespace aotgrad::ops::cpu
