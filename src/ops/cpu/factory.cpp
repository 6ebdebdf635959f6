// CPU kernels of copies, joins, factories and the in-place writers.
#include <algorithm>

#include "ops/cpu/loops.h"
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

using cpu::out0;

namespace {
// out (fresh, zero-filled) with grad written into the region the forward view read.
void scatter_view(const Tensor& out, const Tensor& grad, int64_t dim, int64_t start, int64_t step, int64_t len,
                  bool keep_dim) {
  cpu::fill(out, 0);
  Shape sizes = out.sizes(), strides = out.strides();
  int64_t offset = start * strides[dim];
  if (keep_dim) {
    sizes[dim] = len;
    strides[dim] *= step;
  } else {
    sizes.erase(sizes.begin() + dim);
    strides.erase(strides.begin() + dim);
  }
  cpu::copy_into(Tensor::alias(out, sizes, strides, offset), grad);
}

void inplace_binary(const Args& a, Outputs& o, bool is_mul) {
  const Tensor& self = a[0].to_tensor();
  const double alpha = is_mul ? 1.0 : a[2].to_scalar().to_double();
  visit_dtype(self.dtype(), [&]<typename T>() {
    Tensor other = cpu::as_contiguous(operand(a[1]), self.dtype());
    // Compute into a temporary when self is not contiguous or other aliases it.
    Tensor out = self.is_contiguous() ? self : Tensor::empty(self.sizes(), self.dtype());
    Tensor lhs = self;
    if (!self.is_contiguous()) lhs = cpu::as_contiguous(self);
    if (is_mul)
      cpu::map2<T, T, T>(out, lhs, other, [](T x, T y) { return static_cast<T>(x * y); });
    else
      cpu::map2<T, T, T>(out, lhs, other, [alpha](T x, T y) { return static_cast<T>(x + alpha * y); });
    if (!out.is_same(self)) cpu::copy_into(self, out);
  });
  (void)o;
}
}  // namespace

void register_factory_kernels(Registry& r) {
  r.kernel(OpId::clone, [](const Args& a, Outputs& o) { cpu::copy_into(out0(o), a[0].to_tensor()); });
  r.kernel(OpId::_to_copy, [](const Args& a, Outputs& o) { cpu::copy_into(out0(o), a[0].to_tensor()); });
  r.kernel(OpId::cat, [](const Args& a, Outputs& o) {
    Tensor& out = out0(o);
    if (out.numel() == 0) return;
    int64_t d = normalize_dim(a[1].to_int(), out.dim(), "cat");
    int64_t at = 0;
    for (const Tensor& t : a[0].to_tensor_list()) {
      if (t.dim() == 1 && t.numel() == 0 && out.dim() != 1) continue;
      Shape sizes = out.sizes();
      sizes[d] = t.sizes()[d];
      cpu::copy_into(Tensor::alias(out, sizes, out.strides(), at * out.strides()[d]), t);
      at += t.sizes()[d];
    }
  });
  r.kernel(OpId::stack, [](const Args& a, Outputs& o) {
    Tensor& out = out0(o);
    const TensorList& ts = a[0].to_tensor_list();
    int64_t d = normalize_insert_dim(a[1].to_int(), ts[0].dim(), "stack");
    for (size_t i = 0; i < ts.size(); ++i) {
      Shape sizes = out.sizes(), strides = out.strides();
      int64_t off = static_cast<int64_t>(i) * strides[d];
      sizes.erase(sizes.begin() + d);
      strides.erase(strides.begin() + d);
      cpu::copy_into(Tensor::alias(out, sizes, strides, off), ts[i]);
    }
  });
  r.kernel(OpId::slice_backward, [](const Args& a, Outputs& o) {
    Tensor& out = out0(o);
    int64_t d = normalize_dim(a[2].to_int(), out.dim(), "slice_backward");
    int64_t n = out.sizes()[d], start = a[3].to_int(), end = a[4].to_int(), step = a[5].to_int();
    if (start < 0) start += n;
    if (end < 0) end += n;
    start = std::clamp<int64_t>(start, 0, n);
    end = std::clamp<int64_t>(end, start, n);
    scatter_view(out, a[0].to_tensor(), d, start, step, (end - start + step - 1) / step, true);
  });
  r.kernel(OpId::select_backward, [](const Args& a, Outputs& o) {
    Tensor& out = out0(o);
    int64_t d = normalize_dim(a[2].to_int(), out.dim(), "select_backward");
    int64_t i = a[3].to_int();
    if (i < 0) i += out.sizes()[d];
    scatter_view(out, a[0].to_tensor(), d, i, 1, 1, false);
  });
  r.kernel(OpId::new_zeros, [](const Args&, Outputs& o) { cpu::fill(out0(o), 0); });
  // new_empty promises no values; zeros keep runs deterministic.
  r.kernel(OpId::new_empty, [](const Args&, Outputs& o) { cpu::fill(out0(o), 0); });
  r.kernel(OpId::zeros_like, [](const Args&, Outputs& o) { cpu::fill(out0(o), 0); });
  r.kernel(OpId::ones_like, [](const Args&, Outputs& o) { cpu::fill(out0(o), 1); });
  r.kernel(OpId::full, [](const Args& a, Outputs& o) { cpu::fill(out0(o), a[1].to_scalar().to_double()); });
  r.kernel(OpId::scalar_tensor, [](const Args& a, Outputs& o) { cpu::fill(out0(o), a[0].to_scalar().to_double()); });
  r.kernel(OpId::triu, [](const Args& a, Outputs& o) {
    Tensor& out = out0(o);
    cpu::copy_into(out, a[0].to_tensor());
    const int64_t diag = a[1].to_int();
    const int64_t rows = out.sizes()[out.dim() - 2], cols = out.sizes()[out.dim() - 1];
    const int64_t mats = out.numel() / std::max<int64_t>(rows * cols, 1);
    visit_dtype(out.dtype(), [&]<typename T>() {
      T* p = out.data_ptr<T>();
      for (int64_t m = 0; m < mats; ++m)
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t j = 0; j < cols && j - i < diag; ++j) p[(m * rows + i) * cols + j] = T(0);
    });
  });
  r.kernel(OpId::copy, [](const Args& a, Outputs& o) { cpu::copy_into(out0(o), a[1].to_tensor()); });
  r.kernel(OpId::fill_Scalar, [](const Args& a, Outputs& o) { cpu::fill(out0(o), a[1].to_scalar().to_double()); });
  r.kernel(OpId::zero, [](const Args&, Outputs& o) { cpu::fill(out0(o), 0); });
  r.kernel(OpId::as_strided_scatter, [](const Args& a, Outputs& o) {
    Tensor& out = out0(o);  // contiguous, like self
    cpu::copy_into(out, a[0].to_tensor());
    const int64_t off = a[4].is_none() ? 0 : a[4].to_int();
    Tensor window = Tensor::alias(out, a[2].to_int_list(), a[3].to_int_list(), out.storage_offset() + off);
    cpu::copy_into(window, a[1].to_tensor());
  });
  r.kernel(OpId::copy_, [](const Args& a, Outputs&) {
    const Tensor &self = a[0].to_tensor(), &src = a[1].to_tensor();
    if (self.impl()->storage == src.impl()->storage) {
      Tensor tmp = Tensor::empty(src.sizes(), src.dtype());  // src overlaps self
      cpu::copy_into(tmp, src);
      cpu::copy_into(self, tmp);
      return;
    }
    cpu::copy_into(self, src);
  });
  r.kernel(OpId::add__Tensor, [](const Args& a, Outputs& o) { inplace_binary(a, o, false); });
  r.kernel(OpId::mul__Tensor, [](const Args& a, Outputs& o) { inplace_binary(a, o, true); });
  r.kernel(OpId::fill__Scalar,
           [](const Args& a, Outputs&) { cpu::fill(a[0].to_tensor(), a[1].to_scalar().to_double()); });
  r.kernel(OpId::zero_, [](const Args& a, Outputs&) { cpu::fill(a[0].to_tensor(), 0); });
}

}  // namespace aotgrad::ops
