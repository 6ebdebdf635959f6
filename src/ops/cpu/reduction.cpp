// CPU kernels of the reduction family.
//
// Every reduction is brought to one of two contiguous layouts: reduced dims
// last ("rows": one result per row) or first ("columns": results accumulate
// across rows). Other layouts are permuted into the rows layout first.
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <vector>

#include "ops/cpu/fast_math.h"
#include "ops/cpu/loops.h"
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

using cpu::out0;
using cpu::visit_floating;

namespace {

struct Plan {
  Tensor in;          // contiguous, in the compute dtype
  int64_t outer = 1;  // number of results
  int64_t inner = 1;  // elements reduced per result
  bool columns = false;
};

// Lays x out so the reduced dims are contiguous at the end (rows) or, when they
// are already a leading block, at the front (columns).
Plan plan(const Tensor& x, const std::vector<bool>& mask, DType dt) {
  Plan p;
  const int64_t nd = x.dim();
  int64_t first_kept = nd;
  for (int64_t d = 0; d < nd; ++d)
    if (!mask[d]) {
      first_kept = d;
      break;
    }
  bool prefix = true;
  for (int64_t d = first_kept; d < nd; ++d)
    if (mask[d]) prefix = false;
  bool suffix = true;
  bool seen_reduced = false;
  for (int64_t d = 0; d < nd; ++d) {
    if (mask[d])
      seen_reduced = true;
    else if (seen_reduced)
      suffix = false;
  }
  Tensor src = x;
  if (!suffix && !(prefix && x.is_contiguous())) {
    Shape perm_sizes, perm_strides;
    for (int64_t d = 0; d < nd; ++d)
      if (!mask[d]) {
        perm_sizes.push_back(x.sizes()[d]);
        perm_strides.push_back(x.strides()[d]);
      }
    for (int64_t d = 0; d < nd; ++d)
      if (mask[d]) {
        perm_sizes.push_back(x.sizes()[d]);
        perm_strides.push_back(x.strides()[d]);
      }
    src = Tensor::alias(x, perm_sizes, perm_strides, x.storage_offset());
    suffix = true;
  }
  p.in = cpu::as_contiguous(src, dt);
  for (int64_t d = 0; d < nd; ++d) (mask[d] ? p.inner : p.outer) *= x.sizes()[d];
  p.columns = !suffix;
  return p;
}

// out[o] = finish(fold over the inner elements of result o).
template <typename T, typename Acc, typename Fold, typename Finish>
void reduce(const Plan& p, T* out, Acc init, Fold fold, Finish finish) {
  const T* in = p.in.data_ptr<T>();
  const int64_t inner = p.inner, outer = p.outer;
  if (!p.columns) {
    parallel_for(outer, inner, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        Acc acc = init;
        const T* row = in + o * inner;
        for (int64_t i = 0; i < inner; ++i) acc = fold(acc, row[i]);
        out[o] = finish(acc);
      }
    });
    return;
  }
  // Two units of work per element: each is converted and added into a strided
  // accumulator (one unit, as for rows, kept a [512, 128] bias gradient serial).
  parallel_for(outer, 2 * inner, [&](int64_t b, int64_t e) {
    std::vector<Acc> acc(static_cast<size_t>(e - b), init);
    for (int64_t i = 0; i < inner; ++i) {
      const T* row = in + i * outer;
      for (int64_t o = b; o < e; ++o) acc[o - b] = fold(acc[o - b], row[o]);
    }
    for (int64_t o = b; o < e; ++o) out[o] = finish(acc[o - b]);
  });
}

std::vector<bool> mask_of(const Tensor& x, const IValue& dims) {
  return reduction_mask(dims.is_none() ? IntList{} : dims.to_int_list(), x.dim(), "reduction");
}

// Note [Sums in eight lanes] (loops.h): squared deviations sum in eight double lanes
// too.
template <typename T>
double squared_deviations(const T* p, int64_t n, double mean) {
  double part[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) {
      const double d = static_cast<double>(p[i + j]) - mean;
      part[j] += d * d;
    }
  for (; i < n; ++i) {
    const double d = static_cast<double>(p[i]) - mean;
    part[0] += d * d;
  }
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

// A contiguous tensor whose reduced dims are a (possibly empty) prefix and a
// non-empty suffix around the kept ones: result o reduces the `pre` segments
// x[(a * mid + o) * post, + post) for a in [0, pre).
struct Segments {
  int64_t pre = 1, mid = 1, post = 1;
};
std::optional<Segments> segments_of(const Tensor& x, const std::vector<bool>& mask) {
  if (!x.is_contiguous() || x.dim() == 0) return std::nullopt;
  const auto nd = static_cast<size_t>(x.dim());
  size_t d = 0;
  Segments s;
  for (; d < nd && mask[d]; ++d) s.pre *= x.sizes()[d];
  const size_t kept = d;
  for (; d < nd && !mask[d]; ++d) s.mid *= x.sizes()[d];
  if (d == kept || d == nd) return std::nullopt;  // nothing kept, or no reduced suffix: the columns layout
  for (; d < nd; ++d) {
    if (!mask[d]) return std::nullopt;
    s.post *= x.sizes()[d];
  }
  return s;
}

// Note [Short segments side by side]: a global average pool over 3x3 maps (squeezenet's
// last layer: 8000 results of 9 elements) summed each result in one chain of dependent
// additions, and the chain's latency, not the additions, set the time. Results
// [b, e) of segments of `post` elements lying one after another are therefore summed
// kSideBySide at a time, element i of each in turn: as many independent chains.
template <typename T, typename Finish>
void short_segment_sums(const T* px, int64_t b, int64_t e, int64_t post, T* out, Finish& finish) {
  constexpr int kSideBySide = 8;
  int64_t o = b;
  for (; o + kSideBySide <= e; o += kSideBySide) {
    const T* seg = px + o * post;
    double acc[kSideBySide] = {};
    for (int64_t i = 0; i < post; ++i)
#pragma GCC unroll 8
      for (int r = 0; r < kSideBySide; ++r) acc[r] += static_cast<double>(seg[r * post + i]);
    for (int r = 0; r < kSideBySide; ++r) out[o + r] = finish(o + r, acc[r]);
  }
  for (; o < e; ++o) {
    double acc = 0;
    for (int64_t i = 0; i < post; ++i) acc += static_cast<double>(px[o * post + i]);
    out[o] = finish(o, acc);
  }
}

// Each result's sum and, when `mean` is given (the results' means), sum of squared
// deviations from it, over the segments. (`finish` is inlined, not called through a
// std::function: a squeeze-and-excitation block's mean over a 2x2 map has thousands of
// results of 4 elements each. Short segments of one run: Note [Short segments side by
// side]; otherwise a segment shorter than sum_of's eight lanes is summed in order,
// which is the sum sum_of gives it.)
template <typename T, typename Finish>
void segment_sums(const Tensor& x, const Segments& s, T* out, Finish&& finish, const double* mean = nullptr) {
  const T* px = x.data_ptr<T>();
  constexpr int64_t kLanes = 8, kShort = 32;
  if (s.pre == 1 && s.post <= kShort && mean == nullptr) {  // Note [Short segments side by side]
    parallel_for(s.mid, s.post, [&](int64_t b, int64_t e) { short_segment_sums(px, b, e, s.post, out, finish); });
    return;
  }
  parallel_for(s.mid, s.pre * s.post, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      double acc = 0;
      for (int64_t a = 0; a < s.pre; ++a) {
        const T* seg = px + (a * s.mid + o) * s.post;
        if (mean) {
          acc += squared_deviations(seg, s.post, mean[o]);
        } else if (s.post < kLanes) {
          double part = 0;
          for (int64_t i = 0; i < s.post; ++i) part += static_cast<double>(seg[i]);
          acc += part;
        } else {
          acc += cpu::sum_of(seg, s.post);
        }
      }
      out[o] = finish(o, acc);
    }
  });
}

void sum_kernel(const Tensor& x, const std::vector<bool>& mask, Tensor& out, double divide) {
  if (is_floating(out.dtype()) && x.dtype() == out.dtype())
    if (const auto seg = segments_of(x, mask)) {
      visit_floating(out.dtype(), "sum", [&]<typename T>() {
        segment_sums<T>(x, *seg, out.data_ptr<T>(),
                        [divide](int64_t, double a) { return static_cast<T>(divide == 1 ? a : a / divide); });
      });
      return;
    }
  visit_dtype(out.dtype(), [&]<typename T>() {
    Plan p = plan(x, mask, out.dtype());
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
    reduce<T, Acc>(
        p, out.data_ptr<T>(), Acc(0), [](Acc a, T v) { return a + static_cast<Acc>(v); },
        [divide](Acc a) { return static_cast<T>(divide == 1 ? a : a / divide); });
  });
}

double count(const Tensor& x, const std::vector<bool>& mask) {
  double n = 1;
  for (size_t d = 0; d < mask.size(); ++d)
    if (mask[d]) n *= static_cast<double>(x.sizes()[d]);
  return n;
}

// var.correction: two passes over segments read in place where the layout allows
// (Note [Sums in eight lanes]), else Welford's update over the rows or columns.
void var_kernel(const Args& a, Outputs& o) {
  const Tensor& x = a[0].to_tensor();
  Tensor& out = out0(o);
  auto mask = mask_of(x, a[1]);
  const double n = count(x, mask);
  const double corr = a[2].is_none() ? 1.0 : a[2].to_scalar().to_double();
  if (const auto seg = segments_of(x, mask); seg && x.dtype() == out.dtype()) {
    visit_floating(out.dtype(), "var", [&]<typename T>() {  // two passes (Note [Sums in eight lanes])
      std::vector<double> mean(static_cast<size_t>(seg->mid));
      std::vector<T> unused(static_cast<size_t>(seg->mid));
      segment_sums<T>(x, *seg, unused.data(), [&](int64_t o, double a) {
        mean[static_cast<size_t>(o)] = a / n;
        return T{};
      });
      segment_sums<T>(
          x, *seg, out.data_ptr<T>(),
          [n, corr](int64_t, double m2) { return static_cast<T>(m2 / std::max(n - corr, 0.0)); }, mean.data());
    });
    return;
  }
  visit_floating(out.dtype(), "var", [&]<typename T>() {
    Plan p = plan(x, mask, out.dtype());
    // Welford's update keeps the variance accurate for large means.
    struct W {
      double n, mean, m2;
    };
    reduce<T, W>(
        p, out.data_ptr<T>(), W{0, 0, 0},
        [](W w, T v) {
          w.n += 1;
          double d = v - w.mean;
          w.mean += d / w.n;
          w.m2 += d * (v - w.mean);
          return w;
        },
        [n, corr](W w) { return static_cast<T>(w.m2 / std::max(n - corr, 0.0)); });
  });
}

template <bool IsMax>
void minmax_kernel(const Args& a, Outputs& o) {
  const Tensor& x = a[0].to_tensor();
  Tensor& out = out0(o);
  auto mask = reduction_mask(a[1].to_int_list(), x.dim(), "amax");
  visit_dtype(out.dtype(), [&]<typename T>() {
    Plan p = plan(x, mask, out.dtype());
    // +-infinity, not the largest finite values: amax of a row of -inf is -inf.
    using limits = std::numeric_limits<T>;
    const T init = limits::has_infinity ? (IsMax ? -limits::infinity() : limits::infinity())
                                        : (IsMax ? limits::lowest() : limits::max());
    reduce<T, T>(
        p, out.data_ptr<T>(), init,
        [](T acc, T v) {
          if (v != v) return v;  // NaN propagates
          return IsMax ? (v > acc ? v : acc) : (v < acc ? v : acc);
        },
        [](T acc) { return acc; });
  });
}

// Softmax-like ops over dim `dim` of a contiguous tensor viewed as [outer, D, inner].
struct DimView {
  int64_t outer = 1, d = 1, inner = 1;
};
DimView dim_view(const Shape& sizes, int64_t dim) {
  DimView v;
  if (sizes.empty()) return v;
  for (int64_t i = 0; i < dim; ++i) v.outer *= sizes[i];
  v.d = sizes[dim];
  for (size_t i = dim + 1; i < sizes.size(); ++i) v.inner *= sizes[i];
  return v;
}

// Note [Softmax rows]: softmax over the last dim of a contiguous tensor (the
// attention scores) runs row by row in loops that vectorise: the max (in sixteen
// lanes), the exps (cpu::fast::exp), eight partial sums (as PyTorch's vectorised
// softmax adds), the scaling; and backward's sum of g * y in eight double lanes
// (cpu::dot_of), not one running double, whose dependent adds (four cycles each) had
// made softmax backward as slow as the forward's exps. On a CPU with AVX-512 the
// float rows run in a 16-lane copy.
template <typename T>
AG_FLATTEN void softmax_rows(const T* x, T* y, int64_t b, int64_t e, int64_t d) {
  for (int64_t r = b; r < e; ++r) {
    const T* xr = x + r * d;
    T* yr = y + r * d;
    // The max in sixteen lanes: GCC 12 leaves `omp simd reduction(max)` over std::max
    // scalar, a chain of dependent maxss that took half of the kernel's time.
    T lanes[16];
    std::fill(lanes, lanes + 16, -std::numeric_limits<T>::infinity());
    int64_t i = 0;
    for (; i + 16 <= d; i += 16)
      for (int j = 0; j < 16; ++j) lanes[j] = std::max(lanes[j], xr[i + j]);
    for (; i < d; ++i) lanes[0] = std::max(lanes[0], xr[i]);
    T mx = lanes[0];
    for (int j = 1; j < 16; ++j) mx = std::max(mx, lanes[j]);
    if (std::isinf(mx) && mx < 0) mx = 0;  // a fully masked row gives NaN below, as in PyTorch
#pragma omp simd
    for (int64_t k = 0; k < d; ++k) yr[k] = cpu::fast::exp(xr[k] - mx);
    T part[8] = {};
    int64_t k = 0;
    for (; k + 8 <= d; k += 8)
      for (int j = 0; j < 8; ++j) part[j] += yr[k + j];
    for (; k < d; ++k) part[0] += yr[k];
    const double s = ((double{part[0]} + part[1]) + (double{part[2]} + part[3])) +
                     ((double{part[4]} + part[5]) + (double{part[6]} + part[7]));
    const T inv = static_cast<T>(1.0 / s);
#pragma omp simd
    for (int64_t k2 = 0; k2 < d; ++k2) yr[k2] *= inv;
  }
}
template <typename T>
AG_FLATTEN void softmax_backward_rows(const T* g, const T* y, T* out, int64_t b, int64_t e, int64_t d) {
  for (int64_t r = b; r < e; ++r) {
    const T *gr = g + r * d, *yr = y + r * d;
    T* o = out + r * d;
    const double s = cpu::dot_of(gr, yr, d);
#pragma omp simd
    for (int64_t k2 = 0; k2 < d; ++k2) o[k2] = static_cast<T>(yr[k2] * (gr[k2] - s));
  }
}
AG_TARGET_AVX512 void softmax_rows_avx512(const float* x, float* y, int64_t b, int64_t e, int64_t d) {
  softmax_rows<float>(x, y, b, e, d);
}
AG_TARGET_AVX512 void softmax_backward_rows_avx512(const float* g, const float* y, float* out, int64_t b, int64_t e,
                                                   int64_t d) {
  softmax_backward_rows<float>(g, y, out, b, e, d);
}

template <bool Log>
void softmax_kernel(const Args& a, Outputs& o) {
  const Tensor& xin = a[0].to_tensor();
  Tensor& out = out0(o);
  int64_t dim = normalize_dim(a[1].to_int(), xin.dim(), "softmax");
  DimView v = dim_view(xin.sizes(), dim);
  visit_floating(out.dtype(), "softmax", [&]<typename T>() {
    Tensor x = cpu::as_contiguous(xin);
    const T* px = x.data_ptr<T>();
    T* py = out.data_ptr<T>();
    if (v.inner == 1 && !Log) {  // Note [Softmax rows]
      return parallel_for(v.outer, v.d * 8, [&](int64_t b, int64_t e) {
        if constexpr (std::is_same_v<T, float>)
          if (cpu::has_avx512()) return softmax_rows_avx512(px, py, b, e, v.d);
        softmax_rows<T>(px, py, b, e, v.d);
      });
    }
    parallel_for(v.outer * v.inner, v.d * 8, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        int64_t oi = r / v.inner, ii = r % v.inner;
        const T* xr = px + oi * v.d * v.inner + ii;
        T* yr = py + oi * v.d * v.inner + ii;
        T mx = -std::numeric_limits<T>::infinity();
        if (v.inner == 1) {
#pragma omp simd reduction(max : mx)
          for (int64_t k = 0; k < v.d; ++k) mx = std::max(mx, xr[k]);
        } else {
          for (int64_t k = 0; k < v.d; ++k) mx = std::max(mx, xr[k * v.inner]);
        }
        if (std::isinf(mx) && mx < 0) mx = 0;  // a fully masked row gives NaN below, as in PyTorch
        double s = 0;                          // (contiguous softmax rows went to softmax_rows above)
        for (int64_t k = 0; k < v.d; ++k) {
          T ev = cpu::fast::exp(xr[k * v.inner] - mx);
          if (!Log) yr[k * v.inner] = ev;
          s += ev;
        }
        if (Log) {
          T ls = static_cast<T>(std::log(s)) + mx;
          for (int64_t k = 0; k < v.d; ++k) yr[k * v.inner] = xr[k * v.inner] - ls;
        } else {
          T inv = static_cast<T>(1.0 / s);
          for (int64_t k = 0; k < v.d; ++k) yr[k * v.inner] *= inv;
        }
      }
    });
  });
}

template <bool Log>
void softmax_backward_kernel(const Args& a, Outputs& o) {
  Tensor& out = out0(o);
  int64_t dim = normalize_dim(a[2].to_int(), out.dim(), "softmax backward");
  DimView v = dim_view(out.sizes(), dim);
  visit_floating(out.dtype(), "softmax backward", [&]<typename T>() {
    Tensor g = cpu::as_contiguous(a[0].to_tensor(), out.dtype());
    Tensor y = cpu::as_contiguous(a[1].to_tensor(), out.dtype());
    const T *pg = g.data_ptr<T>(), *py = y.data_ptr<T>();
    T* po = out.data_ptr<T>();
    if (v.inner == 1 && !Log) {  // Note [Softmax rows]
      return parallel_for(v.outer, v.d * 6, [&](int64_t b, int64_t e) {
        if constexpr (std::is_same_v<T, float>)
          if (cpu::has_avx512()) return softmax_backward_rows_avx512(pg, py, po, b, e, v.d);
        softmax_backward_rows<T>(pg, py, po, b, e, v.d);
      });
    }
    parallel_for(v.outer * v.inner, v.d * 6, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        int64_t base = (r / v.inner) * v.d * v.inner + r % v.inner;
        double s = 0;
        for (int64_t k = 0; k < v.d; ++k) {
          int64_t i = base + k * v.inner;
          s += Log ? pg[i] : pg[i] * py[i];
        }
        for (int64_t k = 0; k < v.d; ++k) {
          int64_t i = base + k * v.inner;
          po[i] = Log ? static_cast<T>(pg[i] - cpu::fast::exp(py[i]) * s) : static_cast<T>(py[i] * (pg[i] - s));
        }
      }
    });
  });
}

}  // namespace

void register_reduction_kernels(Registry& r) {
  r.kernel(OpId::sum, [](const Args& a, Outputs& o) {
    const Tensor& x = a[0].to_tensor();
    sum_kernel(x, std::vector<bool>(x.dim(), true), out0(o), 1);
  });
  r.kernel(OpId::sum_dim_IntList, [](const Args& a, Outputs& o) {
    const Tensor& x = a[0].to_tensor();
    sum_kernel(x, mask_of(x, a[1]), out0(o), 1);
  });
  r.kernel(OpId::mean, [](const Args& a, Outputs& o) {
    const Tensor& x = a[0].to_tensor();
    std::vector<bool> m(x.dim(), true);
    sum_kernel(x, m, out0(o), count(x, m));
  });
  r.kernel(OpId::mean_dim, [](const Args& a, Outputs& o) {
    const Tensor& x = a[0].to_tensor();
    auto m = mask_of(x, a[1]);
    sum_kernel(x, m, out0(o), count(x, m));
  });
  r.kernel(OpId::var_correction, var_kernel);
  r.kernel(OpId::amax, minmax_kernel<true>);
  r.kernel(OpId::amin, minmax_kernel<false>);
  r.kernel(OpId::argmax, [](const Args& a, Outputs& o) {
    const Tensor& x = a[0].to_tensor();
    Tensor& out = out0(o);
    std::vector<bool> mask =
        a[1].is_none() ? std::vector<bool>(x.dim(), true) : reduction_mask({a[1].to_int()}, x.dim(), "argmax");
    visit_dtype(x.dtype(), [&]<typename T>() {
      Plan p = plan(x, mask, x.dtype());
      const T* in = p.in.data_ptr<T>();
      int64_t* po = out.data_ptr<int64_t>();
      for (int64_t oi = 0; oi < p.outer; ++oi) {
        int64_t best = 0;
        for (int64_t i = 1; i < p.inner; ++i) {
          T v = p.columns ? in[i * p.outer + oi] : in[oi * p.inner + i];
          T bv = p.columns ? in[best * p.outer + oi] : in[oi * p.inner + best];
          if (bv != bv) break;  // the first NaN is the maximum, as in PyTorch
          if (v != v || v > bv) best = i;
        }
        po[oi] = best;
      }
    });
  });
  r.kernel(OpId::_softmax, softmax_kernel<false>);
  r.kernel(OpId::_log_softmax, softmax_kernel<true>);
  r.kernel(OpId::_softmax_backward_data, softmax_backward_kernel<false>);
  r.kernel(OpId::_log_softmax_backward_data, softmax_backward_kernel<true>);
}

}  // namespace aotgrad::ops
