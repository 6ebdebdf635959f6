// Lowerings of copies, factories and joins to prims.
#include <algorithm>

#include "ops/lowerings/lower.h"

namespace aotgrad::ops {

using namespace lower;

namespace {
Outputs full_of(OpId op, const Args& a, const Shape& shape, const Scalar& value) {
  return single(prims::full(shape, value, out_dtype(op, a)));
}

// The window of a contiguous tensor of `sizes` that slicing/selecting `dim` reads.
Tensor scatter_window(const Tensor& g, const IntList& sizes, int64_t dim, int64_t start, int64_t step, bool drop_dim) {
  Shape contig = contiguous_strides(sizes);
  IntList strides;
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (drop_dim && static_cast<int64_t>(i) == dim) continue;
    strides.push_back(contig[i] * (static_cast<int64_t>(i) == dim ? step : 1));
  }
  Tensor zeros = prims::full(sizes, 0, g.dtype());
  return as_strided_scatter(zeros, g, g.sizes(), strides, start * contig[dim]);
}
// src, converted and broadcast to self; src itself when it already fits, as in
// PyTorch (a mutated buffer's new value is returned as it is, not through a clone).
Outputs copy_lowering(const Args& a) {
  const Tensor &self = a[0].to_tensor(), &src = a[1].to_tensor();
  Tensor t = to_type(src, self.dtype());
  if (t.sizes() != self.sizes()) return single(prims::clone(bcast(t, self.sizes())));
  return single(t);
}
}  // namespace

void register_factory_lowerings(Registry& r) {
  r.decomposition(OpId::clone, [](const Args& a) { return single(prims::clone(a[0].to_tensor())); });
  r.decomposition(OpId::_to_copy, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    const DType dt = out_dtype(OpId::_to_copy, a);
    return single(dt == x.dtype() ? prims::clone(x) : prims::convert_element_type(x, dt));
  });
  r.decomposition(OpId::copy, copy_lowering);
  r.decomposition(OpId::fill_Scalar, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    return single(prims::full(x.sizes(), a[1].to_scalar(), x.dtype()));
  });
  r.decomposition(OpId::zero, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    return single(prims::full(x.sizes(), 0, x.dtype()));
  });
  r.decomposition(OpId::new_zeros, [](const Args& a) { return full_of(OpId::new_zeros, a, a[1].to_int_list(), 0); });
  r.decomposition(OpId::new_empty, [](const Args& a) { return full_of(OpId::new_empty, a, a[1].to_int_list(), 0); });
  r.decomposition(OpId::zeros_like,
                  [](const Args& a) { return full_of(OpId::zeros_like, a, a[0].to_tensor().sizes(), 0); });
  r.decomposition(OpId::ones_like,
                  [](const Args& a) { return full_of(OpId::ones_like, a, a[0].to_tensor().sizes(), 1); });
  r.decomposition(OpId::full,
                  [](const Args& a) { return full_of(OpId::full, a, a[0].to_int_list(), a[1].to_scalar()); });
  r.decomposition(OpId::scalar_tensor,
                  [](const Args& a) { return full_of(OpId::scalar_tensor, a, {}, a[0].to_scalar()); });
  r.decomposition(OpId::cat, [](const Args& a) {
    const DType dt = out_dtype(OpId::cat, a);
    TensorList parts;
    for (const Tensor& t : a[0].to_tensor_list()) {
      if (t.dim() == 1 && t.numel() == 0) continue;  // legacy empty tensors are skipped
      parts.push_back(to_type(t, dt));
    }
    AG_CHECK(!parts.empty(), "cat: expected a non-empty tensor among the inputs");
    return single(prims::cat(parts, normalize_dim(a[1].to_int(), parts[0].dim(), "cat")));
  });
  r.decomposition(OpId::stack, [](const Args& a) {
    const TensorList& ts = a[0].to_tensor_list();
    const Shape out = run_shape(op_info(OpId::stack), a)[0].to_tensor().sizes();
    const int64_t d = normalize_dim(a[1].to_int(), static_cast<int64_t>(out.size()), "stack");
    TensorList parts;
    for (const Tensor& t : ts) {
      Shape s = t.sizes();
      s.insert(s.begin() + d, 1);
      IntList dims;
      for (int64_t i = 0; i <= t.dim(); ++i)
        if (i != d) dims.push_back(i);
      parts.push_back(prims::broadcast_in_dim(to_type(t, out_dtype(OpId::stack, a)), s, dims));
    }
    return single(prims::cat(parts, d));
  });
  r.decomposition(OpId::slice_backward, [](const Args& a) {
    const Tensor& g = a[0].to_tensor();
    const IntList& sizes = a[1].to_int_list();
    const int64_t d = normalize_dim(a[2].to_int(), static_cast<int64_t>(sizes.size()), "slice_backward");
    int64_t start = a[3].to_int(), end = a[4].to_int();
    if (start < 0) start += sizes[d];
    if (end < 0) end += sizes[d];
    start = std::clamp<int64_t>(start, 0, sizes[d]);
    return single(scatter_window(g, sizes, d, start, a[5].to_int(), false));
  });
  r.decomposition(OpId::select_backward, [](const Args& a) {
    const Tensor& g = a[0].to_tensor();
    const IntList& sizes = a[1].to_int_list();
    const int64_t d = normalize_dim(a[2].to_int(), static_cast<int64_t>(sizes.size()), "select_backward");
    int64_t i = a[3].to_int();
    if (i < 0) i += sizes[d];
    return single(scatter_window(g, sizes, d, i, 1, true));
  });
}

}  // namespace aotgrad::ops
