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
// The values are the two kernels' bit for bit: the convolution sums its taps in
// im2col's order and adds the bias last, as every convolution path does, and the
// pool takes, lane by lane, the first element of its window (row by row) and then
// each one greater, or NaN, as the pool kernels do (from -inf, the same value); a
// window wholly in the padding is -inf.
#include "ops/cpu/conv_max_pool.h"

#include <immintrin.h>

#include <algorithm>
#include <limits>

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

// The window maxima of n <= 16 output positions whose windows lie inside the input,
// the first one's at `a`: max alone, and v * 0 summed beside it, NaN once an element
// is NaN or infinite. False (out unset) where one was: only such windows (none in a
// ReLU's output without overflow) take the rule with its two compares (row_maxima),
// which as the only path made the pool 1.75x slower (SqueezeNet's first pool, 8
// images from L2: 60 against 34 us). Windows of kKh x kKw (0: the pool's, in loops)
// are unrolled; each window is a chain of its own, the next position's overlapping it.
template <int kKh, int kKw>
__attribute__((target("avx512f"))) bool inside_maxima(const BlockedPool& s, const float* a, int64_t n, __m512* out) {
  const __m512 zero = _mm512_setzero_ps();
  const int64_t step = s.p.sw * kLanes, kh = kKh > 0 ? kKh : s.p.kh, kw = kKw > 0 ? kKw : s.p.kw;
  __m512 finite = zero;
  for (int64_t q = 0; q < kLanes; ++q) {
    if (q >= n) {
      out[q] = zero;
      continue;
    }
    __m512 m = _mm512_set1_ps(-std::numeric_limits<float>::infinity()), sum = zero;
    for (int64_t ky = 0; ky < kh; ++ky)
      for (int64_t kx = 0; kx < kw; ++kx) {
        const __m512 v = _mm512_loadu_ps(a + q * step + (ky * s.w + kx) * kLanes);
        m = _mm512_max_ps(v, m);  // v > m ? v : m
        sum = _mm512_fmadd_ps(v, zero, sum);
      }
    out[q] = m;
    finite = _mm512_add_ps(finite, sum);
  }
  return _mm512_cmp_ps_mask(finite, finite, _CMP_UNORD_Q) == 0;
}

bool inside_maxima(const BlockedPool& s, const float* a, int64_t n, __m512* out) {
  if (s.p.kh == 3 && s.p.kw == 3) return inside_maxima<3, 3>(s, a, n, out);
  if (s.p.kh == 2 && s.p.kw == 2) return inside_maxima<2, 2>(s, a, n, out);
  return inside_maxima<0, 0>(s, a, n, out);
}

// The window maxima of output row oy, positions [ox0, ox0 + n) (the rest zero), from
// -inf, each element greater, or NaN, taken in window order: the pool kernels take the
// first element and then the same rule, which gives the same value.
__attribute__((target("avx512f"))) void row_maxima(const BlockedPool& s, const float* xb, int64_t oy, int64_t ox0,
                                                   int64_t n, __m512* m) {
  const int64_t step = s.p.sw * kLanes;
  const float* a = xb + ((oy * s.p.sh - s.p.ph) * s.w + ox0 * s.p.sw - s.p.pw) * kLanes;
  const bool inside_all = inside(s, oy, ox0, 0, 0) && inside(s, oy, ox0 + n - 1, s.p.kh - 1, s.p.kw - 1);
  if (inside_all && inside_maxima(s, a, n, m)) return;
  for (int q = 0; q < kLanes; ++q)
    m[q] = q < n ? _mm512_set1_ps(-std::numeric_limits<float>::infinity()) : _mm512_setzero_ps();
  for (int64_t ky = 0; ky < s.p.kh; ++ky)
    for (int64_t kx = 0; kx < s.p.kw; ++kx)
      for (int q = 0; q < n; ++q)
        if (inside(s, oy, ox0 + q, ky, kx)) take_greater_or_nan(m[q], a + (ky * s.w + kx) * kLanes + q * step);
}

// y[c][oy][ox] for c < channels: each block's windows, 16 output positions of a row
// at a time, transposed into the rows of the block's channels.
__attribute__((target("avx512f"))) void max_pool_blocks(const BlockedPool& s, const float* x, float* y) {
  const int64_t blocks = (s.channels + kLanes - 1) / kLanes, out_plane = s.oh * s.ow;
  for (int64_t b = 0; b < blocks; ++b) {
    const float* xb = x + b * s.h * s.w * kLanes;
    const int64_t channels = std::min<int64_t>(kLanes, s.channels - b * kLanes);
    for (int64_t oy = 0; oy < s.oh; ++oy)
      for (int64_t ox0 = 0; ox0 < s.ow; ox0 += kLanes) {
        const int64_t n = std::min<int64_t>(kLanes, s.ow - ox0);
        __m512 m[kLanes];
        row_maxima(s, xb, oy, ox0, n, m);
        transpose16(m);
        for (int64_t l = 0; l < channels; ++l)
          _mm512_mask_storeu_ps(y + (b * kLanes + l) * out_plane + oy * s.ow + ox0, first_lanes(n), m[l]);
      }
  }
}

IntList pair(const IValue& v) {
  IntList l = v.to_int_list();
  if (l.size() == 1) l.push_back(l[0]);
  return l;
}

}  // namespace

bool convolution_then_max_pool(const Args& conv, const Epilogue* epilogue, const Args& pool, Outputs& pool_outs) {
  const Tensor& x = conv[0].to_tensor();
  const Tensor& w = conv[1].to_tensor();
  const Tensor& y = pool_outs[0].to_tensor();
  if (!has_avx512() || x.dtype() != DType::Float32 || y.dtype() != DType::Float32 || !y.is_contiguous()) return false;
  if (epilogue != nullptr && !is_relu(epilogue)) return false;
  if (x.dim() != 4 || w.dim() != 4 || y.dim() != 4 || conv[6].to_bool() || conv[8].to_int() != 1) return false;
  const IntList stride = pair(conv[3]), pad = pair(conv[4]), dilation = pair(conv[5]);
  if (stride.size() != 2 || pad.size() != 2 || dilation != IntList{1, 1}) return false;
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
      [&](int64_t i, const float* blocks) { max_pool_blocks(bp, blocks, out + i * image); });
}

}  // namespace aotgrad::ops::cpu
