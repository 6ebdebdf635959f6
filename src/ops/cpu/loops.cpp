#include "ops/cpu/loops.h"

#include "ops/cpu/transpose_copy.h"

namespace aotgrad::ops::cpu {

void copy_into(const Tensor& dst, const Tensor& src) {
  AG_INTERNAL_CHECK(dst.numel() == 0 || !dst.is_meta(), "copy_into a meta tensor");
  visit_dtype(dst.dtype(), [&]<typename D>() {
    visit_dtype(src.dtype(), [&]<typename S>() {
      D* pd = static_cast<D*>(dst.raw_data());
      const S* ps = static_cast<const S*>(src.raw_data());
      if (dst.is_contiguous() && src.is_contiguous() && src.sizes() == dst.sizes()) {
        const int64_t n = dst.numel();
        if constexpr (std::is_same_v<D, S>) {
          std::memcpy(pd, ps, static_cast<size_t>(n) * sizeof(D));
        } else {
          for (int64_t i = 0; i < n; ++i) pd[i] = static_cast<D>(ps[i]);
        }
        return;
      }
      if (copy_transposing(dst, src)) return;  // Note [Transposing copies]
      std::array<Shape, 2> st{dst.strides(), broadcast_strides(src.sizes(), src.strides(), dst.sizes())};
      // Work per element for the thread split: a vector copy of contiguous rows is
      // cheap; a strided element loop costs a few cycles an element.
      const bool rows_contiguous = st[0].empty() || (st[0].back() == 1 && st[1].back() == 1);
      for_each_row<2>(dst.sizes(), st, rows_contiguous ? 1 : 4, [&](int64_t cnt, const auto& off, const auto& s) {
        D* o = pd + off[0];
        const S* a = ps + off[1];
        if (s[0] == 1 && s[1] == 1) {
          // Rows contiguous on both sides (a permute that keeps the last dim, a
          // concatenation): a loop the compiler vectorises, unlike the strided one.
#pragma omp simd
          for (int64_t i = 0; i < cnt; ++i) o[i] = static_cast<D>(a[i]);
          return;
        }
        for (int64_t i = 0; i < cnt; ++i) o[i * s[0]] = static_cast<D>(a[i * s[1]]);
      });
    });
  });
}

Tensor as_contiguous(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype && t.is_contiguous()) return t;
  Tensor out = Tensor::empty(t.sizes(), dtype);
  copy_into(out, t);
  return out;
}

void fill(const Tensor& t, double v) {
  visit_dtype(t.dtype(), [&]<typename T>() {
    T* p = static_cast<T*>(t.raw_data());
    const T tv = static_cast<T>(v);
    if (t.is_contiguous()) {
      const int64_t n = t.numel();
      for (int64_t i = 0; i < n; ++i) p[i] = tv;
      return;
    }
    for_each_offset(t.sizes(), t.strides(), [&](int64_t o) { p[o] = tv; });
  });
}

}  // namespace aotgrad::ops::cpu
