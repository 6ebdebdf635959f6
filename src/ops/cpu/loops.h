// Loops shared by the CPU kernels: elementwise maps over broadcast, strided
// operands written into a contiguous output, split over threads by rows.
//
// Outputs made by run_kernel are always contiguous; inputs may be any view.
// The contiguous same-shape case is a flat loop vectorised with `omp simd`: an
// output either is an input exactly (a compiled program's in-place reuse) or does
// not overlap it, so element i never reads what another lane wrote.
#pragma once

#include <array>
#include <cstring>

#include "aotgrad/ivalue.h"
#include "core/shape.h"
#include "ops/cpu/cpu_features.h"
#include "support/error.h"
#include "support/parallel.h"

namespace aotgrad::ops::cpu {

// On the loop bodies below: inline the element function (and what it calls) into
// the loop, however big the kernel around it, so that the loop can vectorise.
#define AG_FLATTEN __attribute__((flatten))

// Note [Wide flat loops]: the build targets AVX2 (-march in CMakeLists.txt); on a CPU
// with AVX-512 the flat same-shape loops below run a copy compiled for 16-lane
// vectors. The element function is inlined into each copy (flatten), so what it
// calls is compiled for that copy's target.
#if defined(__clang__)
#define AG_TARGET_AVX512 __attribute__((target("avx512f"), flatten))
#else
#define AG_TARGET_AVX512 __attribute__((target("avx512f,prefer-vector-width=512"), flatten))
#endif

// The element function is copied in: what it captured (a fill value, say) is then a
// local that the stores cannot alias. Read through the caller's reference, a float
// it captured had to be reloaded after every store, which kept masked_fill scalar.
template <typename R, typename A, typename F>
AG_TARGET_AVX512 void flat1_avx512(R* po, const A* px, int64_t b, int64_t e, const F& fn) {
  const F f = fn;
#pragma omp simd
  for (int64_t i = b; i < e; ++i) po[i] = f(px[i]);
}
template <typename R, typename A, typename B, typename F>
AG_TARGET_AVX512 void flat2_avx512(R* po, const A* pa, const B* pb, int64_t s, int64_t e, const F& fn) {
  const F f = fn;
#pragma omp simd
  for (int64_t i = s; i < e; ++i) po[i] = f(pa[i], pb[i]);
}

// Note [Sums in eight lanes]: a floating sum accumulates in double, and one running
// double is a chain of dependent adds (four cycles each) that the compiler may not
// reorder. Eight running sums, one per lane, are independent: they vectorise, and
// the sum is as accurate (each partial is a double). Reductions over the batch and
// the spatial dims of an NCHW tensor (batch norm's statistics in reduction.cpp, a
// convolution's bias gradient) read the tensor in place as segments, without the
// copy that would put the reduced dims last.
template <typename T>
double sum_of(const T* p, int64_t n) {
  double part[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) part[j] += static_cast<double>(p[i + j]);
  for (; i < n; ++i) part[0] += static_cast<double>(p[i]);
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

/// sum_i a[i] * b[i], each product in T, summed in eight double lanes as sum_of.
template <typename T>
double dot_of(const T* a, const T* b, int64_t n) {
  double part[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) part[j] += static_cast<double>(a[i + j] * b[i + j]);
  for (; i < n; ++i) part[0] += static_cast<double>(a[i] * b[i]);
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

/// A copy of `t` converted to `dtype` and made contiguous (returns `t` itself if it
/// already is both). Kernels use it to compute in one type.
Tensor as_contiguous(const Tensor& t, DType dtype);
inline Tensor as_contiguous(const Tensor& t) {
  return as_contiguous(t, t.dtype());
}
/// Copies src into dst elementwise (broadcasting src, converting dtype).
void copy_into(const Tensor& dst, const Tensor& src);
/// Fills every element of `t` (any layout) with `v`.
void fill(const Tensor& t, double v);

/// `sizes` with the adjacent dims every operand steps through as one merged
/// (stride[d] == stride[d + 1] * size[d + 1] for each, or a dim of 1 dropped), and
/// the operands' strides to match: the same elements in the same order, in longer
/// rows. (A channel shuffle's copy of [8, 2, 24, 8, 8] became rows of 64, not 8.)
template <size_t K>
void coalesce_dims(Shape& sizes, std::array<Shape, K>& strides) {
  // Compacted in place towards the back: `at` is the innermost kept dim so far.
  const size_t n = sizes.size();
  size_t at = n;
  for (size_t d = n; d-- > 0;) {
    if (sizes[d] == 1 && at < n) continue;
    bool joins = at < n;
    for (size_t k = 0; k < K && joins; ++k) joins = strides[k][d] == strides[k][at] * sizes[at];
    if (joins) {
      sizes[at] *= sizes[d];
      continue;
    }
    --at;
    sizes[at] = sizes[d];
    for (size_t k = 0; k < K; ++k) strides[k][at] = strides[k][d];
  }
  const auto drop = static_cast<std::ptrdiff_t>(at);
  sizes.erase(sizes.begin(), sizes.begin() + drop);
  for (size_t k = 0; k < K; ++k) strides[k].erase(strides[k].begin(), strides[k].begin() + drop);
}

/// Walks `sizes` row by row (rows = all dims but the last, after coalesce_dims). For
/// each row calls inner(n, offsets, inner_strides) where offsets[k] is operand k's
/// element offset at the row start. Rows are split over threads when there is enough
/// work.
template <size_t K, typename Inner>
void for_each_row(Shape sizes, std::array<Shape, K> strides, int64_t cost, Inner&& inner) {
  coalesce_dims(sizes, strides);
  const int64_t nd = static_cast<int64_t>(sizes.size());
  std::array<int64_t, K> st{};
  if (nd == 0) {
    std::array<int64_t, K> zero{};
    inner(int64_t{1}, zero, st);
    return;
  }
  const int64_t n_inner = sizes[nd - 1];
  if (n_inner == 0) return;
  for (size_t k = 0; k < K; ++k) st[k] = strides[k][nd - 1];
  const int64_t rows = shape_numel(sizes) / n_inner;
  parallel_for(rows, n_inner * cost, [&](int64_t rb, int64_t re) {
    std::vector<int64_t> idx(nd > 1 ? nd - 1 : 1, 0);
    std::array<int64_t, K> off{};
    int64_t rem = rb;
    for (int64_t d = nd - 2; d >= 0; --d) {
      idx[d] = rem % sizes[d];
      rem /= sizes[d];
      for (size_t k = 0; k < K; ++k) off[k] += idx[d] * strides[k][d];
    }
    for (int64_t r = rb; r < re; ++r) {
      inner(n_inner, off, st);
      for (int64_t d = nd - 2; d >= 0; --d) {
        for (size_t k = 0; k < K; ++k) off[k] += strides[k][d];
        if (++idx[d] < sizes[d]) break;
        for (size_t k = 0; k < K; ++k) off[k] -= strides[k][d] * sizes[d];
        idx[d] = 0;
      }
    }
  });
}

/// out[i] = f(x[i]); out contiguous with x's shape.
template <typename R, typename A, typename F>
void map1(const Tensor& out, const Tensor& x, F f) {
  R* po = static_cast<R*>(out.raw_data());
  const A* px = static_cast<const A*>(x.raw_data());
  const int64_t n = out.numel();
  if (x.is_contiguous()) {
    parallel_for(n, 4, [&](int64_t b, int64_t e) AG_FLATTEN {
      if (has_avx512()) return flat1_avx512<R, A>(po, px, b, e, f);
#pragma omp simd
      for (int64_t i = b; i < e; ++i) po[i] = f(px[i]);
    });
    return;
  }
  std::array<Shape, 2> st{out.strides(), x.strides()};
  for_each_row<2>(out.sizes(), st, 4, [&](int64_t cnt, const auto& off, const auto& s) AG_FLATTEN {
    R* o = po + off[0];
    const A* a = px + off[1];
    for (int64_t i = 0; i < cnt; ++i) o[i] = f(a[i * s[1]]);
  });
}

/// How many elements `t` holds if it is contiguous and broadcasts to `out` by
/// repeating whole (its sizes, past any leading 1s, are out's last dims: a bias over
/// the last dim, a mask over the last two); else 0.
inline int64_t repeated_suffix(const Tensor& t, const Shape& out) {
  if (!t.is_contiguous()) return 0;
  const Shape& ts = t.sizes();
  size_t lead = 0;
  while (lead < ts.size() && ts[lead] == 1) ++lead;
  const size_t dims = ts.size() - lead;
  if (dims > out.size()) return 0;
  for (size_t d = 0; d < dims; ++d)
    if (ts[lead + d] != out[out.size() - dims + d]) return 0;
  return t.numel();
}

/// out[i] = f(a[i], b[i]) with a and b broadcast to out's shape.
template <typename R, typename A, typename B, typename F>
void map2(const Tensor& out, const Tensor& a, const Tensor& b, F f) {
  R* po = static_cast<R*>(out.raw_data());
  const A* pa = static_cast<const A*>(a.raw_data());
  const B* pb = static_cast<const B*>(b.raw_data());
  const int64_t n = out.numel();
  const bool a_full = a.sizes() == out.sizes() && a.is_contiguous();
  const bool b_full = b.sizes() == out.sizes() && b.is_contiguous();
  if (a_full && b_full) {
    parallel_for(n, 2, [&](int64_t s, int64_t e) AG_FLATTEN {
      if (has_avx512()) return flat2_avx512<R, A, B>(po, pa, pb, s, e, f);
#pragma omp simd
      for (int64_t i = s; i < e; ++i) po[i] = f(pa[i], pb[i]);
    });
    return;
  }
  if (a_full && b.numel() == 1) {
    const B bv = *pb;
    parallel_for(n, 2, [&](int64_t s, int64_t e) AG_FLATTEN {
      auto with_b = [&f, bv](A x) { return f(x, bv); };
      if (has_avx512()) return flat1_avx512<R, A>(po, pa, s, e, with_b);
#pragma omp simd
      for (int64_t i = s; i < e; ++i) po[i] = f(pa[i], bv);
    });
    return;
  }
  if (b_full && a.numel() == 1) {
    const A av = *pa;
    parallel_for(n, 2, [&](int64_t s, int64_t e) AG_FLATTEN {
      auto with_a = [&f, av](B y) { return f(av, y); };
      if (has_avx512()) return flat1_avx512<R, B>(po, pb, s, e, with_a);
#pragma omp simd
      for (int64_t i = s; i < e; ++i) po[i] = f(av, pb[i]);
    });
    return;
  }
  // One operand whole, the other repeated over the outer dims (masked_fill's mask, a
  // bias): flat loops over each repetition, not the row walk below.
  const int64_t inner_b = a_full ? repeated_suffix(b, out.sizes()) : 0;
  const int64_t inner_a = b_full && inner_b == 0 ? repeated_suffix(a, out.sizes()) : 0;
  if (const int64_t inner = inner_a + inner_b; inner >= 16) {
    parallel_for(n / inner, 2 * inner, [&](int64_t r0, int64_t r1) AG_FLATTEN {
      for (int64_t r = r0; r < r1; ++r) {
        const A* x = inner_a ? pa : pa + r * inner;
        const B* y = inner_b ? pb : pb + r * inner;
        R* o = po + r * inner;
        if (has_avx512()) {
          flat2_avx512<R, A, B>(o, x, y, 0, inner, f);
          continue;
        }
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) o[i] = f(x[i], y[i]);
      }
    });
    return;
  }
  std::array<Shape, 3> st{out.strides(), broadcast_strides(a.sizes(), a.strides(), out.sizes()),
                          broadcast_strides(b.sizes(), b.strides(), out.sizes())};
  for_each_row<3>(out.sizes(), st, 2, [&](int64_t cnt, const auto& off, const auto& s) AG_FLATTEN {
    R* o = po + off[0];
    const A* x = pa + off[1];
    const B* y = pb + off[2];
    if (s[1] == 1 && s[2] == 1) {
      for (int64_t i = 0; i < cnt; ++i) o[i] = f(x[i], y[i]);
    } else if (s[1] == 1 && s[2] == 0) {
      const B yv = *y;
      for (int64_t i = 0; i < cnt; ++i) o[i] = f(x[i], yv);
    } else if (s[1] == 0 && s[2] == 1) {
      const A xv = *x;
      for (int64_t i = 0; i < cnt; ++i) o[i] = f(xv, y[i]);
    } else {
      for (int64_t i = 0; i < cnt; ++i) o[i] = f(x[i * s[1]], y[i * s[2]]);
    }
  });
}

/// out[i] = f(a[i], b[i], c[i]) with broadcasting.
template <typename R, typename A, typename B, typename C, typename F>
void map3(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& c, F f) {
  R* po = static_cast<R*>(out.raw_data());
  const A* pa = static_cast<const A*>(a.raw_data());
  const B* pb = static_cast<const B*>(b.raw_data());
  const C* pc = static_cast<const C*>(c.raw_data());
  std::array<Shape, 4> st{out.strides(), broadcast_strides(a.sizes(), a.strides(), out.sizes()),
                          broadcast_strides(b.sizes(), b.strides(), out.sizes()),
                          broadcast_strides(c.sizes(), c.strides(), out.sizes())};
  for_each_row<4>(out.sizes(), st, 3, [&](int64_t cnt, const auto& off, const auto& s) AG_FLATTEN {
    R* o = po + off[0];
    for (int64_t i = 0; i < cnt; ++i) o[i] = f(pa[off[1] + i * s[1]], pb[off[2] + i * s[2]], pc[off[3] + i * s[3]]);
  });
}

/// Calls f.template operator()<T>() for floating dtypes, failing for the others.
template <typename F>
decltype(auto) visit_floating(DType t, const char* op, F&& f) {
  if (t == DType::Float64) return f.template operator()<double>();
  AG_CHECK(t == DType::Float32, "{}: expected a floating-point tensor (float32 or float64), but got {}", op,
           dtype_name(t));
  return f.template operator()<float>();
}

/// Like visit_dtype, but bool tensors are rejected (arithmetic on bool is an error).
template <typename F>
decltype(auto) visit_numeric(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::Float64:
      return f.template operator()<double>();
    case DType::Int64:
      return f.template operator()<int64_t>();
    case DType::Int32:
      return f.template operator()<int32_t>();
    case DType::Bool:
      AG_FAIL("{}: arithmetic on bool tensors is not supported", op);
    default:
      return f.template operator()<float>();
  }
}

inline Tensor& out0(Outputs& o) {
  return const_cast<Tensor&>(o[0].to_tensor());
}

}  // namespace aotgrad::ops::cpu
