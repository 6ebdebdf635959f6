// Note [Implicit GEMM]: a stride-1 convolution needs no im2col matrix. Pad each input
// plane once (hp = h + 2ph rows of wp = w + 2pw), and compute the output on the
// padded width: output row r, column x is then
//   y[o, r * wp + x] = sum over (c, ki, kj) of W[o, (c, ki, kj)] * xpad[c][(r + ki) * wp + x + kj],
// so row (c, ki, kj) of the product's B is the padded plane c read from offset
// ki * wp + kj: one line of memory, no copy. The AVX-512 GEMM packs those lines as it
// would pack B's rows (sgemm_avx512_gathered). The last kw - 1 columns of each output
// row are not outputs (their taps run into the next row); they are computed and
// dropped when the result is copied out. That replaces im2col's kh * kw copies of the
// input with one padded copy, and im2col's scatter of the result with one compaction.
//
// The input gradient is the same computation: gy padded by kernel - 1 - padding,
// against the weight transposed (channels swapped) and flipped. The weight gradient
// is gy, widened to the padded width with zeros in the extra columns, times the
// same shifted lines of the padded input, transposed: gw[o, (c, ki, kj)] =
// sum over images and l of gyw[o, l] * xpad[c][ki * wp + kj + l]. The zeros meet input
// values (the next row's first columns) in the extra columns, and 0 * inf is NaN,
// so an input holding an infinity or NaN takes the im2col path instead.
#include "ops/cpu/conv_implicit.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "ops/cpu/cpu_features.h"
#include "ops/cpu/sgemm_avx512.h"
#include "support/parallel.h"

namespace aotgrad::ops::cpu {

namespace {
// `planes` planes of h x w, each copied into the middle of hp x wp zeros, and `slack`
// zeros after the last (the dropped columns' taps read past it).
std::unique_ptr<float[]> padded(const float* x, int64_t planes, int64_t h, int64_t w, int64_t ph, int64_t pw,
                                int64_t slack) {
  const int64_t hp = h + 2 * ph, wp = w + 2 * pw, plane = hp * wp;
  std::unique_ptr<float[]> out(new float[static_cast<size_t>(planes * plane + slack)]);
  parallel_for(planes, plane, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      float* dst = out.get() + p * plane;
      std::fill(dst, dst + ph * wp, 0.0f);
      for (int64_t r = 0; r < h; ++r) {
        float* row = dst + (ph + r) * wp;
        std::fill(row, row + pw, 0.0f);
        std::copy_n(x + (p * h + r) * w, w, row + pw);
        std::fill(row + pw + w, row + wp, 0.0f);
      }
      std::fill(dst + (ph + h) * wp, dst + plane, 0.0f);
    }
  });
  std::fill(out.get() + planes * plane, out.get() + planes * plane + slack, 0.0f);
  return out;
}

// One padded image `in` (cin planes of hp x wp) convolved with `wmat` ([cout, cin * kh
// * kw]) into `out` ([cout, oh, ow], + bias), through a [cout, oh * wp] product.
struct ImageConv {
  int64_t cin, hp, wp, cout, kh, kw, oh, ow;

  void run(const float* in, const float* wmat, const float* bias, float* out) const {
    const int64_t k = cin * kh * kw, l = oh * wp;
    thread_local std::vector<const float*> lines;
    thread_local std::vector<float> wide;
    lines.resize(static_cast<size_t>(k));
    for (int64_t c = 0; c < cin; ++c)
      for (int64_t ki = 0; ki < kh; ++ki)
        for (int64_t kj = 0; kj < kw; ++kj)
          lines[static_cast<size_t>((c * kh + ki) * kw + kj)] = in + c * hp * wp + ki * wp + kj;
    wide.resize(static_cast<size_t>(cout * l));
    sgemm_avx512_gathered(false, cout, l, k, 1.0f, wmat, k, lines.data(), 0.0f, wide.data(), l);
    for (int64_t o = 0; o < cout; ++o) {
      const float b = bias != nullptr ? bias[o] : 0.0f;
      for (int64_t r = 0; r < oh; ++r) {
        const float* src = wide.data() + o * l + r * wp;
        float* dst = out + (o * oh + r) * ow;
        for (int64_t x = 0; x < ow; ++x) dst[x] = src[x] + b;
      }
    }
  }
};

bool applies(const Conv2dSizes& s) {
  return has_avx512() && s.n > 0 && s.c > 0 && s.oc > 0 && s.kh > 0 && s.kw > 0 && s.ph >= 0 && s.pw >= 0 &&
         s.ph < s.kh && s.pw < s.kw && s.oh() > 0 && s.ow() > 0;
}

void input_gradient(const Conv2dSizes& s, const float* gy, const float* w, float* gx) {
  const int64_t qh = s.kh - 1 - s.ph, qw = s.kw - 1 - s.pw;  // gy's padding
  const ImageConv conv{s.oc, s.oh() + 2 * qh, s.ow() + 2 * qw, s.c, s.kh, s.kw, s.h, s.w};
  std::unique_ptr<float[]> gyp = padded(gy, s.n * s.oc, s.oh(), s.ow(), qh, qw, s.kw);
  // wt[c, (o, ki, kj)] = w[o, c, kh - 1 - ki, kw - 1 - kj]
  const int64_t taps = s.kh * s.kw;
  std::vector<float> wt(static_cast<size_t>(s.c * s.oc * taps));
  for (int64_t o = 0; o < s.oc; ++o)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t t = 0; t < taps; ++t)
        wt[static_cast<size_t>((c * s.oc + o) * taps + t)] = w[(o * s.c + c) * taps + (taps - 1 - t)];
  const int64_t plane = conv.hp * conv.wp;
  parallel_for(s.n, s.c * s.h * s.w * s.oc * taps, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      conv.run(gyp.get() + i * s.oc * plane, wt.data(), nullptr, gx + i * s.c * s.h * s.w);
  });
}

void weight_gradient(const Conv2dSizes& s, const float* gy, const float* x, float* gw) {
  const int64_t hp = s.h + 2 * s.ph, wp = s.w + 2 * s.pw, plane = hp * wp, oh = s.oh(), ow = s.ow(), l = oh * wp;
  const int64_t k = s.c * s.kh * s.kw;
  std::unique_ptr<float[]> xp = padded(x, s.n * s.c, s.h, s.w, s.ph, s.pw, s.kw);
  // The images are split into one part per thread; each part sums its images into
  // a gradient of its own (part 0: gw itself), and the parts are added at the end.
  const int64_t parts = std::clamp<int64_t>(num_threads(), 1, s.n);
  std::vector<float> partial(static_cast<size_t>((parts - 1) * s.oc * k));
  parallel_for(parts, s.n / parts * s.oc * l * k, [&](int64_t p0, int64_t p1) {
    std::vector<float> gyw(static_cast<size_t>(s.oc * l));  // gy on the padded width, 0 past ow
    std::vector<const float*> lines(static_cast<size_t>(k));
    for (int64_t part = p0; part < p1; ++part) {
      float* out = part == 0 ? gw : partial.data() + (part - 1) * s.oc * k;
      const int64_t i0 = part * s.n / parts, i1 = (part + 1) * s.n / parts;
      for (int64_t i = i0; i < i1; ++i) {
        for (int64_t o = 0; o < s.oc; ++o)
          for (int64_t r = 0; r < oh; ++r) {
            float* row = gyw.data() + o * l + r * wp;
            std::copy_n(gy + ((i * s.oc + o) * oh + r) * ow, ow, row);
            std::fill(row + ow, row + wp, 0.0f);
          }
        for (int64_t c = 0; c < s.c; ++c)
          for (int64_t t = 0; t < s.kh * s.kw; ++t)
            lines[static_cast<size_t>(c * s.kh * s.kw + t)] =
                xp.get() + (i * s.c + c) * plane + (t / s.kw) * wp + t % s.kw;
        sgemm_avx512_gathered(true, s.oc, k, l, 1.0f, gyw.data(), l, lines.data(), i == i0 ? 0.0f : 1.0f, out, k);
      }
    }
  });
  for (int64_t part = 1; part < parts; ++part) {
    const float* add = partial.data() + (part - 1) * s.oc * k;
    for (int64_t j = 0; j < s.oc * k; ++j) gw[j] += add[j];
  }
}

bool all_finite(const float* x, int64_t n) {
  bool ok = true;
  for (int64_t i = 0; i < n; ++i) ok &= std::isfinite(x[i]);
  return ok;
}
}  // namespace

// Measured on a Zen 5 core: convnet's 3x3 convolutions on 32x32 and 16x16 maps (288
// and more columns per image) run 1.3-1.6x faster than through im2col; squeezenet's
// on 7x7 and 3x3 maps (63 and 15 columns) run 1.3x slower: their products leave the
// 32-column tiles mostly padding and dropped columns, where im2col lays a chunk of
// images side by side. A 1x1 convolution is a plain product already.
bool conv2d_implicit_pays(const Conv2dSizes& s) {
  constexpr int64_t kMinColumns = 128;
  return s.kh * s.kw > 1 && s.oh() * (s.w + 2 * s.pw) >= kMinColumns;
}

bool conv2d_implicit_forward(const Conv2dSizes& s, const float* x, const float* w, const float* bias, float* y) {
  if (!applies(s)) return false;
  const ImageConv conv{s.c, s.h + 2 * s.ph, s.w + 2 * s.pw, s.oc, s.kh, s.kw, s.oh(), s.ow()};
  std::unique_ptr<float[]> xp = padded(x, s.n * s.c, s.h, s.w, s.ph, s.pw, s.kw);
  const int64_t plane = conv.hp * conv.wp;
  parallel_for(s.n, s.oc * s.oh() * s.ow() * s.c * s.kh * s.kw, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) conv.run(xp.get() + i * s.c * plane, w, bias, y + i * s.oc * s.oh() * s.ow());
  });
  return true;
}

bool conv2d_implicit_backward(const Conv2dSizes& s, const float* gy, const float* x, const float* w, float* gx,
                              float* gw) {
  if (!applies(s) || (gw != nullptr && !all_finite(x, s.n * s.c * s.h * s.w))) return false;
  if (gx != nullptr) input_gradient(s, gy, w, gx);
  if (gw != nullptr) weight_gradient(s, gy, x, gw);
  return true;
}

}  // namespace aotgrad::ops::cpu
