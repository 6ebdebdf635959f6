// CPU kernels of 2-d convolution: im2col, then one GEMM per chunk of images and group
// (Note [One product per chunk of images]).
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

#include "ops/cpu/conv_channel_vectors_avx512.h"
#include "ops/cpu/conv_few_taps_avx512.h"
#include "ops/cpu/conv_implicit.h"
#include "ops/cpu/conv_max_pool.h"
#include "ops/cpu/conv_winograd_avx512.h"
#include "ops/cpu/depthwise_avx512.h"
#include "ops/cpu/epilogue.h"
#include "ops/cpu/gemm.h"
#include "ops/cpu/im2col_avx512.h"
#include "ops/cpu/loops.h"
#include "ops/cpu/sgemm_avx512.h"
#include "ops/cpu/thread_scratch.h"
#include "ops/families.h"
#include "ops/shape/pool_params.h"
#include "support/parallel.h"

namespace aotgrad::ops {

namespace {

struct ConvGeom {
  int64_t n, c, h, w;  // input
  int64_t oc, kh, kw;  // weight [oc, c/groups, kh, kw]
  int64_t oh, ow;      // output
  int64_t sh, sw, ph, pw, dh, dw, groups;
  // Forward: floats from one image's output to the next's, each image's [oc, oh, ow]
  // contiguous (Note [Outputs in slices]); oc * oh * ow where the images are packed.
  int64_t y_image = 0;
  int64_t cg() const { return c / groups; }
  int64_t ocg() const { return oc / groups; }
  int64_t col_rows() const { return cg() * kh * kw; }
  int64_t col_cols() const { return oh * ow; }
};

ConvGeom geom(const Tensor& x, const Tensor& w, const IValue& st, const IValue& pad, const IValue& dil, int64_t groups,
              const Shape& out) {
  const IntList s = window_pair(st, "convolution", "stride"), p = window_pair(pad, "convolution", "padding"),
                d = window_pair(dil, "convolution", "dilation");
  return {x.sizes()[0],
          x.sizes()[1],
          x.sizes()[2],
          x.sizes()[3],
          w.sizes()[0],
          w.sizes()[2],
          w.sizes()[3],
          out[2],
          out[3],
          s[0],
          s[1],
          p[0],
          p[1],
          d[0],
          d[1],
          groups,
          w.sizes()[0] * out[2] * out[3]};
}

// col[(c, ki, kj), (oy, ox)] = x[c, oy*sh - ph + ki*dh, ox*sw - pw + kj*dw] (0 outside);
// col's rows are `ld` apart (a batch of images side by side shares them).
// Each row: zeros left of the input, the columns inside it, zeros right; ix = ox*sw +
// shift is inside for ox in [lo, hi), which depends on kj alone, so it is found once
// per kernel column: deep layers have thousands of rows of a few floats (a 3x3 map: 9),
// and two divisions a row cost more than the row's copy.
struct ColumnSpan {
  int64_t shift, lo, hi;
};
inline std::vector<ColumnSpan> column_spans(const ConvGeom& g) {
  std::vector<ColumnSpan> spans;
  for (int64_t kj = 0; kj < g.kw; ++kj) {
    const int64_t shift = kj * g.dw - g.pw;
    const int64_t lo = std::clamp<int64_t>((-shift + g.sw - 1) / g.sw, 0, g.ow);
    const int64_t hi = std::clamp<int64_t>((g.w - shift + g.sw - 1) / g.sw, lo, g.ow);
    spans.push_back({shift, lo, hi});
  }
  return spans;
}

template <typename T>
void im2col(const ConvGeom& g, const std::vector<ColumnSpan>& spans, const T* x, T* col, int64_t ld) {
  if constexpr (std::is_same_v<T, float>)  // Note [im2col rows in vectors]
    if (cpu::im2col_avx512({g.cg(), g.h, g.w, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw}, x, col, ld))
      return;
  const int64_t oh = g.oh, ow = g.ow, h = g.h, w = g.w, sw = g.sw;
  for (int64_t c = 0; c < g.cg(); ++c)
    for (int64_t ki = 0; ki < g.kh; ++ki)
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        T* row = col + ((c * g.kh + ki) * g.kw + kj) * ld;
        const T* plane = x + c * h * w;
        const auto [shift, lo, hi] = spans[static_cast<size_t>(kj)];
        for (int64_t oy = 0; oy < oh; ++oy) {
          const int64_t iy = oy * g.sh - g.ph + ki * g.dh;
          T* dst = row + oy * ow;
          if (iy < 0 || iy >= h) {
            std::fill(dst, dst + ow, T(0));
            continue;
          }
          const T* src = plane + iy * w;
          // One loop for the padding and the input both: the padding as fills made
          // memset calls, which on rows of a few floats cost more than the rows.
          if (sw == 1)
            for (int64_t ox = 0; ox < ow; ++ox) dst[ox] = ox >= lo && ox < hi ? src[ox + shift] : T(0);
          else
            for (int64_t ox = 0; ox < ow; ++ox) dst[ox] = ox >= lo && ox < hi ? src[ox * sw + shift] : T(0);
        }
      }
}

// The adjoint of im2col: x[...] += col[...].
template <typename T>
void col2im(const ConvGeom& g, const T* col, T* x, int64_t ld) {
  for (int64_t c = 0; c < g.cg(); ++c)
    for (int64_t ki = 0; ki < g.kh; ++ki)
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        const T* row = col + ((c * g.kh + ki) * g.kw + kj) * ld;
        T* plane = x + c * g.h * g.w;
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          const int64_t iy = oy * g.sh - g.ph + ki * g.dh;
          if (iy < 0 || iy >= g.h) continue;
          if (g.sw == 1) {
            const int64_t shift = kj * g.dw - g.pw;
            const int64_t lo = std::clamp<int64_t>(-shift, 0, g.ow), hi = std::clamp<int64_t>(g.w - shift, lo, g.ow);
            T* dst = plane + iy * g.w + shift;
            const T* src = row + oy * g.ow;
#pragma omp simd
            for (int64_t ox = lo; ox < hi; ++ox) dst[ox] += src[ox];
            continue;
          }
          for (int64_t ox = 0; ox < g.ow; ++ox) {
            const int64_t ix = ox * g.sw - g.pw + kj * g.dw;
            if (ix >= 0 && ix < g.w) plane[iy * g.w + ix] += row[oy * g.ow + ox];
          }
        }
      }
}

// Note [One product per chunk of images]: a convolution is a product of the weight
// [oc, K] with the im2col matrix [K, oh*ow] of each image. Deep layers of small inputs
// have few output positions (a 4x4 map: 16 columns), and one product per image then
// repacks the weight for a sliver of work. So the im2col matrices of a chunk of images
// are laid side by side ([K, images * oh*ow]) and multiplied once, the product split
// over threads by the GEMM (Note [One thread pool] in gemm.cpp); the result is then
// scattered into NCHW. A chunk's im2col buffer is kept near kChunkElements.
constexpr int64_t kChunkElements = int64_t{1} << 22;
constexpr int64_t kOwnProductColumns = 512;

bool is_pointwise(const ConvGeom& g);

int64_t images_per_chunk(const ConvGeom& g) {
  // A 1x1 convolution with two tiles' worth of positions multiplies each image in
  // place; on smaller maps (7x7: 49 positions, a tile and a quarter-empty one) its
  // images go side by side, packed from where they are (Note [Images packed from
  // where they are] in sgemm_avx512.cpp): 256 -> 32 on 8 maps of 7x7, 47 -> 42 us.
  if (is_pointwise(g) && g.col_cols() >= 64) return 1;
  return std::clamp<int64_t>(kChunkElements / std::max<int64_t>(1, g.col_rows() * g.col_cols()), 1, g.n);
}

// A buffer of n elements, left uninitialised (std::vector would zero it first).
template <typename T>
class Scratch {
 public:
  explicit Scratch(int64_t n) : data_(new T[static_cast<size_t>(std::max<int64_t>(n, 1))]) {}
  T* get() const { return data_.get(); }

 private:
  std::unique_ptr<T[]> data_;
};

bool is_pointwise(const ConvGeom& g) {
  return g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0 && g.dh == 1 && g.dw == 1;
}

// y[o, :] += bias[o] for the output channels of group gi of one image, then the
// epilogue (Note [Epilogues]), each row while it is in cache.
template <typename T>
void finish_rows(const ConvGeom& g, int64_t gi, const T* bias, const Epilogue* epilogue, T* out) {
  if (!bias && !epilogue) return;
  const int64_t cols = g.col_cols();
  parallel_for(g.ocg(), cols, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      T* row = out + o * cols;
      if (bias) {
        const T bv = bias[gi * g.ocg() + o];
        for (int64_t i = 0; i < cols; ++i) row[i] += bv;
      }
      cpu::apply_epilogue(epilogue, row, cols);
    }
  });
}

// The im2col matrices of images [b0, b0 + nb) of group gi, side by side in `col` ([K, nb * cols]).
template <typename T>
void gather_columns(const ConvGeom& g, const T* x, int64_t gi, int64_t b0, int64_t nb, T* col) {
  const int64_t cols = g.col_cols(), ld = nb * cols;
  const std::vector<ColumnSpan> spans = column_spans(g);
  parallel_for(nb, g.col_rows() * cols, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      im2col(g, spans, x + ((b0 + i) * g.c + gi * g.cg()) * g.h * g.w, col + i * cols, ld);
  });
}

// [ocg, nb * cols] (images side by side) <-> the NCHW slices of group gi.
// Calls row(i, o) for rows [r0, r1) of nb images x ocg channels, image-major. (The
// index is stepped, not divided per row: deep layers have thousands of rows of a few
// columns, and two divisions a row cost more than the row's copy.)
template <typename F>
void for_rows(int64_t ocg, int64_t r0, int64_t r1, F&& row) {
  int64_t i = r0 / ocg, o = r0 % ocg;
  for (int64_t r = r0; r < r1; ++r) {
    row(i, o);
    if (++o == ocg) {
      o = 0;
      ++i;
    }
  }
}

// The product (image-major: nb images x ocg channels) into its NCHW slices, plus
// the bias, then the epilogue.
template <typename T>
void scatter_rows(const ConvGeom& g, const T* wide, int64_t gi, int64_t b0, int64_t nb, const T* bias,
                  const Epilogue* epilogue, T* y) {
  const int64_t cols = g.col_cols(), ocg = g.ocg();
  for (int64_t i = 0; i < nb; ++i) {
    for (int64_t o = 0; o < ocg; ++o) {
      const T* src = wide + o * nb * cols + i * cols;
      T* dst = y + (b0 + i) * g.y_image + (gi * ocg + o) * cols;
      const T bv = bias ? bias[gi * ocg + o] : T(0);
      for (int64_t k = 0; k < cols; ++k) dst[k] = src[k] + bv;
      cpu::apply_epilogue(epilogue, dst, cols);
    }
  }
}
template <typename T>
void gather_rows(const ConvGeom& g, const T* gy, int64_t gi, int64_t b0, int64_t nb, T* wide) {
  const int64_t cols = g.col_cols(), ocg = g.ocg(), oc = g.oc;
  parallel_for(nb * ocg, cols, [&](int64_t r0, int64_t r1) {
    for_rows(ocg, r0, r1, [&](int64_t i, int64_t o) {
      std::memcpy(wide + o * nb * cols + i * cols, gy + ((b0 + i) * oc + gi * ocg + o) * cols,
                  sizeof(T) * static_cast<size_t>(cols));
    });
  });
}

// Note [Depthwise convolutions]: with one input channel per group (MobileNet's
// depthwise layers), every group's product is a 1 x K matrix times K x positions:
// nothing for a GEMM to block, and groups run one after another on one thread. They
// run directly instead, one output plane per task, the kernel taps in the outer loops
// and the output row in the inner one (unit-stride rows vectorise).
bool is_depthwise(const ConvGeom& g) {
  return g.cg() == 1 && g.groups > 1;
}

cpu::DepthwiseSizes depthwise_sizes(const ConvGeom& g) {
  return {g.c, g.h, g.w, g.oc, g.kh, g.kw, g.oh, g.ow, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw};
}

// For kernel column kj, the outputs [lo, hi) whose input column ox * sw + shift lies
// inside the row (shift = kj * dw - pw).
struct Taps {
  int64_t shift, lo, hi;
};
std::vector<Taps> column_taps(const ConvGeom& g) {
  std::vector<Taps> taps;
  for (int64_t kj = 0; kj < g.kw; ++kj) {
    const int64_t shift = kj * g.dw - g.pw;
    const int64_t lo = shift >= 0 ? 0 : (-shift + g.sw - 1) / g.sw;
    const int64_t hi = std::min(g.ow, g.w - 1 - shift < 0 ? 0 : (g.w - 1 - shift) / g.sw + 1);
    taps.push_back({shift, lo, std::max(lo, hi)});
  }
  return taps;
}

// Calls tap(out_row, in_row, weight, lo, hi, shift) for every kernel tap of output row oy.
template <typename T, typename F>
void for_each_tap(const ConvGeom& g, const std::vector<Taps>& taps, int64_t oy, const T* wp, F&& tap) {
  for (int64_t ki = 0; ki < g.kh; ++ki) {
    const int64_t iy = oy * g.sh - g.ph + ki * g.dh;
    if (iy < 0 || iy >= g.h) continue;
    for (int64_t kj = 0; kj < g.kw; ++kj) tap(iy, wp[ki * g.kw + kj], taps[static_cast<size_t>(kj)], ki * g.kw + kj);
  }
}

template <typename T>
void depthwise_planes(const ConvGeom& g, const T* x, const T* w, const T* bias, T* y) {
  const std::vector<Taps> taps = column_taps(g);
  const int64_t sw = g.sw, ow = g.ow, w_in = g.w;
  if constexpr (std::is_same_v<T, float>)  // Note [Depthwise channels in vectors]
    if (cpu::depthwise_forward_channels_avx512(depthwise_sizes(g), g.n, x, w, bias, y)) return;
  parallel_for(g.n * g.oc, g.oh * g.ow * g.kh * g.kw, [&](int64_t p0, int64_t p1) {
    if constexpr (std::is_same_v<T, float>)  // Note [Depthwise rows in vectors]
      if (cpu::depthwise_forward_avx512(depthwise_sizes(g), p0, p1, x, w, bias, y)) return;
    for (int64_t plane = p0; plane < p1; ++plane) {
      const int64_t b = plane / g.oc, o = plane % g.oc;
      const T* __restrict xp = x + (b * g.c + o / g.ocg()) * g.h * w_in;
      const T* wp = w + o * g.kh * g.kw;
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        T* __restrict yr = y + (plane * g.oh + oy) * ow;
        const T b0 = bias ? bias[o] : T(0);
        for (int64_t ox = 0; ox < ow; ++ox) yr[ox] = b0;
        for_each_tap(g, taps, oy, wp, [&](int64_t iy, T wv, const Taps& t, int64_t) {
          const T* __restrict xr = xp + iy * w_in + t.shift;
          for (int64_t ox = t.lo; ox < t.hi; ++ox) yr[ox] += wv * xr[ox * sw];
        });
      }
    }
  });
}

// The depthwise kernels write their planes in their own orders; the epilogue follows
// as a pass of its own over each thread's share of the planes.
template <typename T>
void depthwise_forward(const ConvGeom& g, const T* x, const T* w, const T* bias, const Epilogue* epilogue, T* y) {
  depthwise_planes(g, x, w, bias, y);
  if (epilogue == nullptr) return;
  const int64_t cols = g.oh * g.ow;
  parallel_for(g.n * g.oc, cols,
               [&](int64_t p0, int64_t p1) { cpu::apply_epilogue(epilogue, y + p0 * cols, (p1 - p0) * cols); });
}

template <typename T>
void depthwise_backward(const ConvGeom& g, const T* gy, const T* x, const T* w, T* gx, T* gw) {
  const std::vector<Taps> taps = column_taps(g);
  const int64_t sw = g.sw, ow = g.ow, w_in = g.w, kk = g.kh * g.kw;
  if (gx) {
    // Input planes are shared by the ocg output channels of their group: one task per input plane.
    parallel_for(g.n * g.c, g.ocg() * g.oh * g.ow * kk, [&](int64_t p0, int64_t p1) {
      if constexpr (std::is_same_v<T, float>)  // Note [Depthwise rows in vectors]
        if (cpu::depthwise_input_grad_avx512(depthwise_sizes(g), p0, p1, gy, w, gx)) return;
      for (int64_t plane = p0; plane < p1; ++plane) {
        T* __restrict gxp = gx + plane * g.h * w_in;
        std::fill(gxp, gxp + g.h * w_in, T(0));
        const int64_t b = plane / g.c, ci = plane % g.c;
        for (int64_t j = 0; j < g.ocg(); ++j) {
          const int64_t o = ci * g.ocg() + j;
          const T* gyp = gy + (b * g.oc + o) * g.oh * ow;
          for (int64_t oy = 0; oy < g.oh; ++oy)
            for_each_tap(g, taps, oy, w + o * kk, [&](int64_t iy, T wv, const Taps& t, int64_t) {
              T* __restrict gr = gxp + iy * w_in + t.shift;
              const T* __restrict gyr = gyp + oy * ow;
              for (int64_t ox = t.lo; ox < t.hi; ++ox) gr[ox * sw] += wv * gyr[ox];
            });
        }
      }
    });
  }
  if (gw) {
    parallel_for(g.oc, g.n * g.oh * g.ow * kk, [&](int64_t o0, int64_t o1) {
      if constexpr (std::is_same_v<T, float>)
        if (cpu::depthwise_weight_grad_avx512(depthwise_sizes(g), g.n, o0, o1, gy, x, gw)) return;
      std::vector<double> acc(static_cast<size_t>(kk));
      for (int64_t o = o0; o < o1; ++o) {
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t b = 0; b < g.n; ++b) {
          const T* xp = x + (b * g.c + o / g.ocg()) * g.h * w_in;
          const T* gyp = gy + (b * g.oc + o) * g.oh * ow;
          for (int64_t oy = 0; oy < g.oh; ++oy)
            for_each_tap(g, taps, oy, w + o * kk, [&](int64_t iy, T, const Taps& t, int64_t tap) {
              const T* __restrict xr = xp + iy * w_in + t.shift;
              const T* __restrict gyr = gyp + oy * ow;
              T s = 0;
              for (int64_t ox = t.lo; ox < t.hi; ++ox) s += gyr[ox] * xr[ox * sw];
              acc[static_cast<size_t>(tap)] += s;
            });
        }
        for (int64_t k = 0; k < kk; ++k) gw[o * kk + k] = static_cast<T>(acc[static_cast<size_t>(k)]);
      }
    });
  }
}

// gb[o] = the sum of gy over images and positions of channel o.
template <typename T>
void bias_gradient(const ConvGeom& g, const T* gy, T* gb) {
  const int64_t cols = g.col_cols();
  parallel_for(g.oc, g.n * cols, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      double s = 0;
      for (int64_t b = 0; b < g.n; ++b) s += cpu::sum_of(gy + (b * g.oc + o) * cols, cols);
      gb[o] = static_cast<T>(s);
    }
  });
}

// The sizes of a float32 convolution the implicit-GEMM path takes (stride 1, no
// dilation, one group, and sizes where it pays), if it is one.
template <typename T>
std::optional<cpu::Conv2dSizes> implicit_gemm_sizes(const ConvGeom& g) {
  if (!std::is_same_v<T, float> || g.groups != 1 || g.sh != 1 || g.sw != 1 || g.dh != 1 || g.dw != 1)
    return std::nullopt;
  const cpu::Conv2dSizes s{g.n, g.c, g.h, g.w, g.oc, g.kh, g.kw, g.ph, g.pw};
  if (!cpu::conv2d_implicit_pays(s)) return std::nullopt;
  return s;
}

// Where a product of group gi's output channels stores each image's columns: its
// block of the output, plus the bias, and a ReLU epilogue in the store.
template <typename T>
cpu::ColumnSegments output_segments(const ConvGeom& g, int64_t gi, const T* bias, const Epilogue* epilogue) {
  const int64_t cols = g.col_cols();
  return {cols, cols, g.y_image, bias != nullptr ? bias + gi * g.ocg() : nullptr, cpu::is_relu(epilogue)};
}

// The float product of group gi's weight and `ld` columns of im2col matrices (one
// image's, or images' side by side), stored with the bias straight into each image's
// block of `out` (Note [Columns in segments] in sgemm_avx512.cpp): no pass adding the
// bias after, no wide product scattered back. Only where this thread's kernels run
// serially (the images already split over the threads): elsewhere the plain product
// splits itself over them. A ReLU epilogue is applied in the store too. False where it
// does not apply.
template <typename T>
bool segmented_product(const ConvGeom& g, int64_t gi, const T* wg, const T* col, int64_t ld, const T* bias,
                       const Epilogue* epilogue, T* out) {
  if constexpr (std::is_same_v<T, float>)
    return serial_here() && cpu::sgemm_avx512_segmented(g.ocg(), ld, g.col_rows(), wg, g.col_rows(), col, ld,
                                                        output_segments(g, gi, bias, epilogue), out, g.col_cols());
  return false;
}

// The same for a 1x1 convolution's images [b0, b0 + nb), read where they lie in x (x0:
// group gi's channels of image b0) instead of copied side by side first (Note [Images
// packed from where they are] in sgemm_avx512.cpp).
template <typename T>
bool pointwise_images_product(const ConvGeom& g, int64_t gi, const T* wg, const T* x0, int64_t nb, const T* bias,
                              const Epilogue* epilogue, T* out) {
  if constexpr (std::is_same_v<T, float>) {
    const int64_t cols = g.col_cols();
    const cpu::ColumnSegments images{cols, cols, g.c * cols};
    return is_pointwise(g) && serial_here() &&
           cpu::sgemm_avx512_images(g.ocg(), nb * cols, g.col_rows(), wg, g.col_rows(), x0, images,
                                    output_segments(g, gi, bias, epilogue), out, cols);
  }
  return false;
}

// Images [b0, b0 + nb) of group gi as one product: their im2col matrices side by side
// (Note [One product per chunk of images]), or one image's straight into its NCHW
// slice (a 1x1 convolution's image is its own im2col matrix).
template <typename T>
void conv_forward_chunk(const ConvGeom& g, const std::vector<ColumnSpan>& spans, const T* x, const T* w, const T* bias,
                        const Epilogue* epilogue, int64_t gi, int64_t b0, int64_t nb, T* y) {
  const int64_t cols = g.col_cols(), K = g.col_rows(), ocg = g.ocg(), ld = nb * cols;
  const T* wg = w + gi * ocg * K;
  const T* x0 = x + (b0 * g.c + gi * g.cg()) * g.h * g.w;
  T* out = y + b0 * g.y_image + gi * ocg * cols;
  if (nb == 1) {
    const bool pointwise = is_pointwise(g);
    cpu::ThreadScratch<T, 0> col(pointwise ? 0 : K * cols);
    if (!pointwise) im2col(g, spans, x0, col.get(), cols);
    if (segmented_product(g, gi, wg, pointwise ? x0 : col.get(), cols, bias, epilogue, out)) {
      if (!cpu::is_relu(epilogue)) cpu::apply_epilogue(epilogue, out, ocg * cols);
      return;
    }
    cpu::gemm_raw<T>(false, false, ocg, cols, K, T(1), wg, K, pointwise ? x0 : col.get(), cols, T(0), out, cols);
    return finish_rows(g, gi, bias, epilogue, out);
  }
  auto epilogue_after_stores = [&] {
    if (!cpu::is_relu(epilogue))
      for (int64_t i = 0; i < nb; ++i) cpu::apply_epilogue(epilogue, out + i * g.y_image, ocg * cols);
  };
  if (pointwise_images_product(g, gi, wg, x0, nb, bias, epilogue, out)) return epilogue_after_stores();
  cpu::ThreadScratch<T, 0> col(K * ld);
  for (int64_t i = 0; i < nb; ++i) im2col(g, spans, x0 + i * g.c * g.h * g.w, col.get() + i * cols, ld);
  if (segmented_product(g, gi, wg, col.get(), ld, bias, epilogue, out)) return epilogue_after_stores();
  cpu::ThreadScratch<T, 1> wide(ocg * ld);
  cpu::gemm_raw<T>(false, false, ocg, ld, K, T(1), wg, K, col.get(), ld, T(0), wide.get(), ld);
  scatter_rows(g, wide.get(), gi, b0, nb, bias, epilogue, y);
}

// Note [Images split over the threads]: each thread convolves its own share of the
// images, alone: a chunk of them side by side as one product, or one at a time for a
// wide map. Splitting each product's rows over the threads instead wrote the im2col
// and output buffers from both cores, interleaved within their rows, and on a VM
// whose two cores answer each other in ~0.5 us that false sharing made a 2-thread
// convolution slower than a 1-thread one (64 -> 256 channels on 8 maps of 3x3: 162 us
// at 1 thread, 291 at 2). The consumers split an NCHW tensor by its leading images
// too, so each core mostly reads back what it wrote. The cost: fewer columns a
// product (36 for a 3x3 map at 2 threads), its last tile less full.
template <typename T>
void conv_forward_by_images(const ConvGeom& g, const T* x, const T* w, const T* bias, const Epilogue* epilogue, T* y) {
  const int64_t cols = g.col_cols(), K = g.col_rows();
  // An image with a wide map is a product of its own, written straight into its NCHW
  // slice: side by side, its columns would only be scattered back afterwards.
  const int64_t chunk = cols >= kOwnProductColumns ? 1 : images_per_chunk(g);
  const std::vector<ColumnSpan> spans = column_spans(g);
  // Fewer images than threads (inference on one image): the images stay on this thread
  // and each product splits its rows over the threads instead.
  const int64_t work = g.n >= num_threads() ? g.n * g.oc * cols * K : 0;
  for_each_thread(work, [&](int t, int nt) {
    const Share images = thread_share(g.n, t, nt);
    for (int64_t b0 = images.begin; b0 < images.end; b0 += chunk)
      for (int64_t gi = 0; gi < g.groups; ++gi)
        conv_forward_chunk(g, spans, x, w, bias, epilogue, gi, b0, std::min(chunk, images.end - b0), y);
  });
}

// A 1x1 convolution of 1x1 maps (a squeeze-and-excitation block's) is a linear layer:
// y[n, o] = x[n, :] . w[o, :] + bias[o], one product of all the images against the
// transposed weight, which the GEMM computes as dot products reading each weight row
// once (Note [Few rows against a transposed B] in sgemm_avx512.cpp). As one product
// per chunk of images it was a product 8 columns wide, 5x slower (mobilenet_v3_small's
// 576 -> 144 at batch 8: 65 us).
template <typename T>
bool conv_forward_as_linear(const ConvGeom& g, const T* x, const T* w, const T* bias, const Epilogue* epilogue, T* y) {
  if (!is_pointwise(g) || g.col_cols() != 1 || g.groups != 1) return false;
  cpu::gemm_raw<T>(false, true, g.n, g.oc, g.c, T(1), x, g.c, w, g.c, T(0), y, g.y_image);
  for (int64_t i = 0; i < g.n; ++i) {
    T* row = y + i * g.y_image;
    if (bias)
      for (int64_t o = 0; o < g.oc; ++o) row[o] += bias[o];
    cpu::apply_epilogue(epilogue, row, g.oc);
  }
  return true;
}

// With an epilogue (Note [Epilogues]), every path applies it to the output as it
// finishes each piece: a row, an image or a product.
template <typename T>
void conv_forward(const ConvGeom& g, const T* x, const T* w, const T* bias, const Epilogue* epilogue, T* y) {
  if (is_depthwise(g)) {
    if (g.y_image == g.oc * g.col_cols()) return depthwise_forward(g, x, w, bias, epilogue, y);
    // The depthwise kernels index planes across images: packed, then copied out.
    ConvGeom packed = g;
    packed.y_image = g.oc * g.col_cols();
    std::vector<T> out(static_cast<size_t>(g.n * packed.y_image));
    depthwise_forward(packed, x, w, bias, epilogue, out.data());
    for (int64_t i = 0; i < g.n; ++i) std::copy_n(out.data() + i * packed.y_image, packed.y_image, y + i * g.y_image);
    return;
  }
  if (conv_forward_as_linear(g, x, w, bias, epilogue, y)) return;
  if constexpr (std::is_same_v<T, float>) {
    const cpu::FewTapsConv direct{g.n, g.c, g.h, g.w, g.oc, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw};
    const bool one_group = g.groups == 1 && g.dh == 1 && g.dw == 1;
    if (one_group && cpu::conv2d_few_taps_forward(direct, x, w, bias, epilogue, y, g.y_image)) return;
    // These kernels store with a ReLU or nothing; another epilogue runs after them.
    const bool relu = cpu::is_relu(epilogue);
    const auto finish = [&] {
      if (!relu)
        for (int64_t i = 0; i < g.n; ++i) cpu::apply_epilogue(epilogue, y + i * g.y_image, g.oc * g.col_cols());
    };
    // Note [Winograd F(4x4, 3x3)] in conv_winograd_avx512.cpp.
    if (one_group && cpu::conv2d_winograd_pays(direct) &&
        cpu::conv2d_winograd_forward(direct, x, w, bias, relu, y, g.y_image))
      return finish();
    // Note [Output channels in vectors] in conv_channel_vectors_avx512.cpp.
    if (one_group && cpu::conv2d_channel_vectors_pays(direct) &&
        cpu::conv2d_channel_vectors_forward(direct, x, w, bias, relu, y, g.y_image))
      return finish();
    auto s = implicit_gemm_sizes<T>(g);
    if (s && cpu::conv2d_implicit_forward(*s, x, w, bias, epilogue, y, g.y_image)) return;
  }
  conv_forward_by_images(g, x, w, bias, epilogue, y);
}

template <typename T>
void conv_backward(const ConvGeom& g, const T* gy, const T* x, const T* w, T* gx, T* gw, T* gb) {
  if (is_depthwise(g)) {
    depthwise_backward(g, gy, x, w, gx, gw);
    if (gb) bias_gradient(g, gy, gb);
    return;
  }
  if constexpr (std::is_same_v<T, float>) {
    auto s = implicit_gemm_sizes<T>(g);
    if (s && cpu::conv2d_implicit_backward(*s, gy, x, w, gx, gw)) {
      if (gb) bias_gradient(g, gy, gb);
      return;
    }
  }
  const int64_t cols = g.col_cols(), K = g.col_rows(), chunk = images_per_chunk(g);
  Scratch<T> col_buffer(K * chunk * cols), wide_buffer(g.ocg() * chunk * cols);
  T *col = col_buffer.get(), *wide = wide_buffer.get();
  if (gx) std::memset(gx, 0, sizeof(T) * g.n * g.c * g.h * g.w);
  if (gw) std::memset(gw, 0, sizeof(T) * g.oc * K);
  for (int64_t b0 = 0; b0 < g.n; b0 += chunk) {
    const int64_t nb = std::min(chunk, g.n - b0), ld = nb * cols;
    for (int64_t gi = 0; gi < g.groups; ++gi) {
      gather_rows(g, gy, gi, b0, nb, wide);
      if (gw) {
        // gw += gy [ocg, images * cols] @ col^T.
        gather_columns(g, x, gi, b0, nb, col);
        cpu::gemm_raw<T>(false, true, g.ocg(), K, ld, T(1), wide, ld, col, ld, T(1), gw + gi * g.ocg() * K, K);
      }
      if (gx) {
        // col = W^T @ gy, then each image's columns scattered back onto its input.
        cpu::gemm_raw<T>(true, false, K, ld, g.ocg(), T(1), w + gi * g.ocg() * K, K, wide, ld, T(0), col, ld);
        parallel_for(nb, K * cols, [&](int64_t i0, int64_t i1) {
          for (int64_t i = i0; i < i1; ++i)
            col2im(g, col + i * cols, gx + ((b0 + i) * g.c + gi * g.cg()) * g.h * g.w, ld);
        });
      }
    }
  }
  if (gb) bias_gradient(g, gy, gb);
}

// Note [Outputs in slices]: a convolution's output may be a slice of a larger tensor,
// the compiled program's way of writing a concatenation's inputs where the
// concatenation has them (Note [Concatenations in place] in
// compile/concat_in_place.cpp). Every path writes each image's [oc, oh, ow] block
// where the output's image stride puts it (ConvGeom::y_image); an output whose
// images are not contiguous blocks is computed packed and copied in.
// Image stride of `out` when each image's [oc, oh, ow] block is contiguous; 0 otherwise.
int64_t image_stride(const Tensor& out) {
  const Shape& n = out.sizes();
  const Shape& st = out.strides();
  if (n.size() != 4) return 0;
  const int64_t block = n[1] * n[2] * n[3];
  const bool dense = (n[3] == 1 || st[3] == 1) && (n[2] == 1 || st[2] == n[3]) && (n[1] == 1 || st[1] == n[2] * n[3]);
  if (!dense) return 0;
  return n[0] == 1 ? block : (st[0] >= block ? st[0] : 0);
}

void convolution_kernel(const Args& a, Outputs& o, const Epilogue* epilogue) {
  Tensor& out = cpu::out0(o);
  const Tensor& x0 = a[0].to_tensor();
  ConvGeom g = geom(x0, a[1].to_tensor(), a[3], a[4], a[5], a[8].to_int(), out.sizes());
  const int64_t y_image = image_stride(out);
  Tensor y = y_image > 0 ? out : Tensor::empty(out.sizes(), out.dtype());  // Note [Outputs in slices]
  if (y_image > 0) g.y_image = y_image;
  cpu::visit_floating(out.dtype(), "convolution", [&]<typename T>() {
    Tensor x = cpu::as_contiguous(x0), w = cpu::as_contiguous(a[1].to_tensor());
    Tensor b = a[2].is_none() ? Tensor() : cpu::as_contiguous(a[2].to_tensor());
    conv_forward<T>(g, x.data_ptr<T>(), w.data_ptr<T>(), b.defined() ? b.data_ptr<T>() : nullptr, epilogue,
                    y.data_ptr<T>());
  });
  if (y_image == 0) cpu::copy_into(out, y);
}

}  // namespace

void register_conv_kernels(Registry& r) {
  r.kernel(OpId::convolution, [](const Args& a, Outputs& o) { convolution_kernel(a, o, nullptr); });
  r.with_epilogue(OpId::convolution,
                  [](const Args& a, Outputs& o, const Epilogue& e) { convolution_kernel(a, o, &e); });
  r.writes_into_slices(OpId::convolution);  // Note [Outputs in slices]
  r.then_max_pool(OpId::convolution, cpu::convolution_then_max_pool);
  r.kernel(OpId::convolution_backward, [](const Args& a, Outputs& o) {
    const Tensor& gy0 = a[0].to_tensor();
    ConvGeom g = geom(a[1].to_tensor(), a[2].to_tensor(), a[4], a[5], a[6], a[9].to_int(), gy0.sizes());
    cpu::visit_floating(gy0.dtype(), "convolution_backward", [&]<typename T>() {
      Tensor gy = cpu::as_contiguous(gy0), x = cpu::as_contiguous(a[1].to_tensor()),
             w = cpu::as_contiguous(a[2].to_tensor());
      auto ptr = [&](int i) {
        return o[i].is_tensor() && o[i].to_tensor().defined() ? o[i].to_tensor().template data_ptr<T>() : nullptr;
      };
      conv_backward<T>(g, gy.data_ptr<T>(), x.data_ptr<T>(), w.data_ptr<T>(), ptr(0), ptr(1), ptr(2));
    });
  });
}

}  // namespace aotgrad::ops
