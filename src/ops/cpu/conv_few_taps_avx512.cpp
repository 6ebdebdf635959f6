// Note [Few taps]: a convolution whose outputs each read few inputs — a network's
// first layer, 3 channels of 3x3, 27 taps — is a product with 27 rows, and through
// im2col and the GEMM its overheads cost as much as its products: the im2col copy
// (at stride 2, two loads and a permute per 16 columns of each of the 27 rows), the
// GEMM's packing of both operands, and a pass over the output for the bias and the
// epilogue. SqueezeNet's first layer (8 images, 3 x 64 x 64 -> 64 x 31 x 31, stride
// 2) took 268 us in the compiled model on a Zen 5 core; ONNX Runtime's 157.
//
// Directly: for each output row and 16 output columns, the taps' 16-lane vectors
// (the padded input row at the tap's offset, at the stride) are gathered once into
// a block in L1, and every 8 output channels take them, 27 FMAs each against the
// weight broadcast from memory, into 8 accumulators whose chains overlap. Each sum
// runs over the taps in im2col's row order from 0, and the bias is added last, as
// the GEMM path does. The epilogue runs over each image once it is done, while it is
// in cache. Each thread pads and convolves its own share of the images.
#include "ops/cpu/conv_few_taps_avx512.h"

#include <immintrin.h>

#include <algorithm>

#include "ops/cpu/conv_implicit.h"
#include "ops/cpu/cpu_features.h"
#include "ops/cpu/epilogue.h"
#include "ops/cpu/lanes_avx512.h"
#include "ops/cpu/thread_scratch.h"
#include "support/parallel.h"

namespace aotgrad::ops::cpu {

namespace {
constexpr int64_t kMaxTaps = 32;
// Past the last row of the padded image: the last 16 columns' taps read up to two
// vectors beyond the row's end (their lanes past the output are never stored).
constexpr int64_t kSlack = 4 * kLanes;

struct Padded {
  int64_t hp, wp, plane;
};

// The taps' vectors for output row oy, columns [ox0, ox0 + 16), in im2col's row
// order (channel, kernel row, kernel column).
template <int64_t kStride>
__attribute__((target("avx512f"))) void gather_taps(const FewTapsConv& s, const Padded& g, const float* xp, int64_t oy,
                                                    int64_t ox0, __m512* taps) {
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  int64_t t = 0;
  for (int64_t ci = 0; ci < s.c; ++ci)
    for (int64_t ki = 0; ki < s.kh; ++ki) {
      const float* row = xp + ci * g.plane + (oy * s.sh + ki) * g.wp + ox0 * kStride;
      for (int64_t kj = 0; kj < s.kw; ++kj, ++t) {
        if constexpr (kStride == 1)
          taps[t] = _mm512_loadu_ps(row + kj);
        else
          taps[t] = _mm512_permutex2var_ps(_mm512_loadu_ps(row + kj), evens, _mm512_loadu_ps(row + kj + kLanes));
      }
    }
}

// Output channels [o0, o0 + kN) of the 16 columns at `y` (planes `plane` apart).
template <int kN>
__attribute__((target("avx512f"), always_inline)) inline void channels(const float* w, int64_t n_taps,
                                                                       const __m512* taps, const float* bias,
                                                                       int64_t o0, float* y, int64_t plane,
                                                                       __mmask16 keep) {
  __m512 acc[kN];
  for (int i = 0; i < kN; ++i) acc[i] = _mm512_setzero_ps();
  const float* wo = w + o0 * n_taps;
  for (int64_t t = 0; t < n_taps; ++t) {
    const __m512 x = taps[t];
    for (int i = 0; i < kN; ++i) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(wo[i * n_taps + t]), x, acc[i]);
  }
  for (int i = 0; i < kN; ++i) {
    if (bias != nullptr) acc[i] = _mm512_add_ps(acc[i], _mm512_set1_ps(bias[o0 + i]));
    float* out = y + (o0 + i) * plane;
    if (keep == 0xFFFF)
      _mm512_storeu_ps(out, acc[i]);
    else
      _mm512_mask_storeu_ps(out, keep, acc[i]);
  }
}

// The same for two blocks of 16 columns at once (`y` and `y + kLanes`; taps of the
// second block kMaxTaps after the first's): each weight broadcast serves both.
template <int kN>
__attribute__((target("avx512f"), always_inline)) inline void channels_x2(const float* w, int64_t n_taps,
                                                                          const __m512* taps, const float* bias,
                                                                          int64_t o0, float* y, int64_t plane,
                                                                          __mmask16 keep) {
  __m512 a0[kN], a1[kN];
  for (int i = 0; i < kN; ++i) a0[i] = a1[i] = _mm512_setzero_ps();
  const float* wo = w + o0 * n_taps;
  for (int64_t t = 0; t < n_taps; ++t) {
    const __m512 x0 = taps[t], x1 = taps[kMaxTaps + t];
    for (int i = 0; i < kN; ++i) {
      const __m512 wi = _mm512_set1_ps(wo[i * n_taps + t]);
      a0[i] = _mm512_fmadd_ps(wi, x0, a0[i]);
      a1[i] = _mm512_fmadd_ps(wi, x1, a1[i]);
    }
  }
  for (int i = 0; i < kN; ++i) {
    const __m512 b = bias != nullptr ? _mm512_set1_ps(bias[o0 + i]) : _mm512_setzero_ps();
    float* out = y + (o0 + i) * plane;
    _mm512_storeu_ps(out, bias != nullptr ? _mm512_add_ps(a0[i], b) : a0[i]);
    const __m512 v1 = bias != nullptr ? _mm512_add_ps(a1[i], b) : a1[i];
    if (keep == 0xFFFF)
      _mm512_storeu_ps(out + kLanes, v1);
    else
      _mm512_mask_storeu_ps(out + kLanes, keep, v1);
  }
}

template <int64_t kStride>
__attribute__((target("avx512f"))) void convolve_image(const FewTapsConv& s, const Padded& g, const float* xp,
                                                       const float* w, const float* bias, float* y) {
  const int64_t oh = s.oh(), ow = s.ow(), n_taps = s.c * s.kh * s.kw, plane = oh * ow;
  alignas(64) __m512 taps[2 * kMaxTaps];
  for (int64_t oy = 0; oy < oh; ++oy) {
    int64_t ox0 = 0;
    for (; ox0 + kLanes < ow; ox0 += 2 * kLanes) {
      gather_taps<kStride>(s, g, xp, oy, ox0, taps);
      gather_taps<kStride>(s, g, xp, oy, ox0 + kLanes, taps + kMaxTaps);
      const __mmask16 keep = first_lanes(ow - ox0 - kLanes);  // the second block's columns
      float* out = y + oy * ow + ox0;
      int64_t o = 0;
      for (; o + 8 <= s.oc; o += 8) channels_x2<8>(w, n_taps, taps, bias, o, out, plane, keep);
      for (; o < s.oc; ++o) channels_x2<1>(w, n_taps, taps, bias, o, out, plane, keep);
    }
    for (; ox0 < ow; ox0 += kLanes) {
      gather_taps<kStride>(s, g, xp, oy, ox0, taps);
      const __mmask16 keep = first_lanes(ow - ox0);
      float* out = y + oy * ow + ox0;
      int64_t o = 0;
      for (; o + 8 <= s.oc; o += 8) channels<8>(w, n_taps, taps, bias, o, out, plane, keep);
      for (; o + 4 <= s.oc; o += 4) channels<4>(w, n_taps, taps, bias, o, out, plane, keep);
      for (; o < s.oc; ++o) channels<1>(w, n_taps, taps, bias, o, out, plane, keep);
    }
  }
}

// The image's planes, each in the middle of its hp x wp zeros, then kSlack zeros.
void pad_image(const FewTapsConv& s, const Padded& g, const float* x, float* xp) {
  pad_planes(x, 0, s.c, s.h, s.w, s.ph, s.pw, xp);
  std::fill(xp + s.c * g.plane, xp + s.c * g.plane + kSlack, 0.0f);
}

// A 1x1 convolution at stride 1 without padding is a plain product already, which the
// GEMM takes with its input read in place; here its rows of 7 outputs (7x7 maps) would
// fill 7 of 16 lanes: squeezenet's 32 -> 128 on 7x7 maps took 46 us here against 27
// through the GEMM (Zen 5; on 15x15 maps of 16 channels 31 against 33).
bool is_plain_product(const FewTapsConv& s) {
  return s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0;
}

}  // namespace

bool conv2d_few_taps_forward(const FewTapsConv& s, const float* x, const float* w, const float* bias,
                             const Epilogue* epilogue, float* y, int64_t y_image) {
  if (!has_avx512() || is_plain_product(s) || s.c * s.kh * s.kw > kMaxTaps || (s.sw != 1 && s.sw != 2) || s.sh < 1 ||
      s.n <= 0 || s.c <= 0 || s.oc <= 0 || s.kh <= 0 || s.kw <= 0 || s.h + 2 * s.ph < s.kh || s.w + 2 * s.pw < s.kw)
    return false;
  const Padded g{s.h + 2 * s.ph, s.w + 2 * s.pw, (s.h + 2 * s.ph) * (s.w + 2 * s.pw)};
  const int64_t out_image = s.oc * s.oh() * s.ow();
  const int64_t image_work = out_image * s.c * s.kh * s.kw;
  for_each_thread(s.n >= num_threads() ? s.n * image_work : 0, [&](int t, int nt) {
    const Share images = thread_share(s.n, t, nt);
    ThreadScratch<float, 3> xp(s.c * g.plane + kSlack);
    for (int64_t i = images.begin; i < images.end; ++i) {
      pad_image(s, g, x + i * s.c * s.h * s.w, xp.get());
      float* yi = y + i * (y_image == 0 ? out_image : y_image);
      if (s.sw == 1)
        convolve_image<1>(s, g, xp.get(), w, bias, yi);
      else
        convolve_image<2>(s, g, xp.get(), w, bias, yi);
      apply_epilogue(epilogue, yi, out_image);
    }
  });
  return true;
}

}  // namespace aotgrad::ops::cpu
