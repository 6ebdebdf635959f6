// Shape rules of copies, joins, factories and the in-place writers.
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

namespace {
Outputs like(const Tensor& x, const IValue& dtype) {
  return single(meta(x.sizes(), dtype.is_none() ? x.dtype() : dtype.to_dtype()));
}
DType scalar_dtype(const Scalar& s) {
  return s.is_floating() ? DType::Float32 : s.is_bool() ? DType::Bool : DType::Int64;
}
Outputs write_into_self(const Args& a, std::string_view op) {
  const Tensor& self = a[0].to_tensor();
  Tensor src = operand(a[1]);
  Shape s = broadcast_shapes(self.sizes(), src.sizes(), op);
  AG_CHECK(s == self.sizes(), "{}: the source {} cannot be broadcast to self {}", op, src.describe(), self.describe());
  if (op != "copy_") {
    DType rt = result_type(a[0], a[1]);
    AG_CHECK(promote_types(rt, self.dtype()) == self.dtype(),
             "{}: the result type {} cannot be cast to the dtype of self {}", op, dtype_name(rt), self.describe());
  }
  return single(meta(self.sizes(), self.dtype()));
}
Outputs list_check(const TensorList& ts, std::string_view op) {
  AG_CHECK(!ts.empty(), "{}: expected a non-empty list of tensors", op);
  return {};
}
}  // namespace

void register_factory_shapes(Registry& r) {
  r.shape(OpId::clone, [](const Args& a) { return like(a[0].to_tensor(), None{}); });
  r.shape(OpId::_to_copy, [](const Args& a) { return like(a[0].to_tensor(), a[1]); });
  r.shape(OpId::cat, [](const Args& a) {
    const TensorList& ts = a[0].to_tensor_list();
    list_check(ts, "cat");
    // Legacy rule: 1-d empty tensors are skipped.
    const Tensor* ref = nullptr;
    for (const Tensor& t : ts)
      if (!(t.dim() == 1 && t.numel() == 0)) {
        ref = &t;
        break;
      }
    if (!ref) return single(meta({0}, ts[0].dtype()));
    int64_t d = normalize_dim(a[1].to_int(), ref->dim(), "cat");
    Shape out = ref->sizes();
    out[d] = 0;
    DType dt = ts[0].dtype();
    for (size_t i = 0; i < ts.size(); ++i) {
      const Tensor& t = ts[i];
      dt = promote_types(dt, t.dtype());
      if (t.dim() == 1 && t.numel() == 0) continue;
      AG_CHECK(t.dim() == ref->dim(), "cat: expected every tensor to have {} dims, but tensor {} is {}", ref->dim(), i,
               t.describe());
      for (int64_t k = 0; k < t.dim(); ++k)
        AG_CHECK(k == d || t.sizes()[k] == ref->sizes()[k],
                 "cat: sizes of tensors must match except in dim {}: expected size {} at dim {} "
                 "but got {} for tensor {} {}",
                 d, ref->sizes()[k], k, t.sizes()[k], i, t.describe());
      AG_CHECK(!__builtin_add_overflow(out[d], t.sizes()[d], &out[d]), "cat: the joined size overflows");
    }
    return single(meta(out, dt));
  });
  r.shape(OpId::stack, [](const Args& a) {
    const TensorList& ts = a[0].to_tensor_list();
    list_check(ts, "stack");
    int64_t d = normalize_insert_dim(a[1].to_int(), ts[0].dim(), "stack");
    DType dt = ts[0].dtype();
    for (size_t i = 0; i < ts.size(); ++i) {
      AG_CHECK(ts[i].sizes() == ts[0].sizes(),
               "stack: expected each tensor to be equal size, but got {} at entry 0 and {} at entry {}",
               ts[0].describe(), ts[i].describe(), i);
      dt = promote_types(dt, ts[i].dtype());
    }
    Shape out = ts[0].sizes();
    out.insert(out.begin() + d, static_cast<int64_t>(ts.size()));
    return single(meta(out, dt));
  });
  auto scatter_back = [](const Args& a) {
    const Tensor& g = a[0].to_tensor();
    const IntList& sizes = a[1].to_int_list();
    normalize_dim(a[2].to_int(), static_cast<int64_t>(sizes.size()), "slice/select backward");
    return single(meta(sizes, g.dtype()));
  };
  r.shape(OpId::slice_backward, scatter_back);
  r.shape(OpId::select_backward, scatter_back);
  auto new_rule = [](const Args& a) {
    for (int64_t s : a[1].to_int_list())
      AG_CHECK(s >= 0, "new_zeros: negative size in {}", shape_str(a[1].to_int_list()));
    return single(meta(a[1].to_int_list(), a[2].is_none() ? a[0].to_tensor().dtype() : a[2].to_dtype()));
  };
  r.shape(OpId::new_zeros, new_rule);
  r.shape(OpId::new_empty, new_rule);
  r.shape(OpId::zeros_like, [](const Args& a) { return like(a[0].to_tensor(), a[1]); });
  r.shape(OpId::ones_like, [](const Args& a) { return like(a[0].to_tensor(), a[1]); });
  r.shape(OpId::full, [](const Args& a) {
    for (int64_t s : a[0].to_int_list()) AG_CHECK(s >= 0, "full: negative size in {}", shape_str(a[0].to_int_list()));
    DType dt = a[2].is_none() ? scalar_dtype(a[1].to_scalar()) : a[2].to_dtype();
    return single(meta(a[0].to_int_list(), dt));
  });
  r.shape(OpId::scalar_tensor,
          [](const Args& a) { return single(meta({}, a[1].is_none() ? DType::Float32 : a[1].to_dtype())); });
  r.shape(OpId::triu, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    AG_CHECK(x.dim() >= 2, "triu: expected a tensor with at least 2 dims, but got {}", x.describe());
    return like(x, None{});
  });
  r.shape(OpId::copy_, [](const Args& a) { return write_into_self(a, "copy_"); });
  r.shape(OpId::copy, [](const Args& a) { return write_into_self(a, "copy"); });
  r.shape(OpId::fill_Scalar, [](const Args& a) { return like(a[0].to_tensor(), None{}); });
  r.shape(OpId::zero, [](const Args& a) { return like(a[0].to_tensor(), None{}); });
  r.shape(OpId::as_strided_scatter, [](const Args& a) {
    const Tensor &self = a[0].to_tensor(), &src = a[1].to_tensor();
    const IntList &size = a[2].to_int_list(), &stride = a[3].to_int_list();
    const int64_t off = a[4].is_none() ? 0 : a[4].to_int();
    AG_CHECK(size.size() == stride.size(),
             "as_strided_scatter: expected size and stride of the same length, but got {} and {}", shape_str(size),
             shape_str(stride));
    AG_CHECK(src.sizes() == size, "as_strided_scatter: expected src of size {}, but got {}", shape_str(size),
             src.describe());
    AG_CHECK(src.dtype() == self.dtype(), "as_strided_scatter: expected src of dtype {} like self, but got {}",
             dtype_name(self.dtype()), src.describe());
    int64_t last = off;
    for (size_t d = 0; d < size.size(); ++d) {
      AG_CHECK(stride[d] >= 0, "as_strided_scatter: negative stride in {}", shape_str(stride));
      if (size[d] > 0) last += (size[d] - 1) * stride[d];
    }
    AG_CHECK(off >= 0 && (shape_numel(size) == 0 || last < self.numel()),
             "as_strided_scatter: the window (size {}, stride {}, offset {}) does not fit in self {}", shape_str(size),
             shape_str(stride), off, self.describe());
    return like(self, None{});
  });
  r.shape(OpId::add__Tensor, [](const Args& a) { return write_into_self(a, "add_"); });
  r.shape(OpId::mul__Tensor, [](const Args& a) { return write_into_self(a, "mul_"); });
  r.shape(OpId::fill__Scalar, [](const Args& a) { return like(a[0].to_tensor(), None{}); });
  r.shape(OpId::zero_, [](const Args& a) { return like(a[0].to_tensor(), None{}); });
}

}  // namespace aotgrad::ops
