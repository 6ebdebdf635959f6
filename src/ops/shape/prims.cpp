// Shape rules of the prims: strict versions of the ATen rules (see op_table.def).
#include <algorithm>
#include <optional>

#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

namespace {
Outputs same_as_self(const Args& a) {
  const Tensor& x = a[0].to_tensor();
  return single(meta(x.sizes(), x.dtype()));
}

Outputs unary_float(const Args& a, const char* op) {
  const Tensor& x = a[0].to_tensor();
  check_floating(x, op, "self");
  return single(meta(x.sizes(), x.dtype()));
}

// Elementwise binary: `other` is a number or a tensor of self's dtype and shape. As
// in PyTorch's prims, a 0-d tensor stands for a scalar beside any shape (either side).
Outputs binary(const Args& a, const char* op, bool to_bool) {
  const Tensor& x = a[0].to_tensor();
  Shape shape = x.sizes();
  if (a[1].is_tensor()) {
    const Tensor& y = a[1].to_tensor();
    AG_CHECK(x.sizes() == y.sizes() || x.dim() == 0 || y.dim() == 0,
             "prims.{}: expected operands of one shape, or a 0-d one (prims do not broadcast), but got self {} and "
             "other {}",
             op, x.describe(), y.describe());
    check_same_dtype(x, y, std::string("prims.") + op, "self", "other");
    if (x.dim() == 0) shape = y.sizes();
  }
  return single(meta(shape, to_bool ? DType::Bool : x.dtype()));
}

Outputs reduce(const Args& a, const char* op, bool floating_only) {
  const Tensor& x = a[0].to_tensor();
  if (floating_only) check_floating(x, op, "inp");
  IntList dims = a[1].is_none() ? IntList{} : a[1].to_int_list();
  auto mask = reduction_mask(dims, x.dim(), op);
  DType dt = a.back().is_none() ? x.dtype() : a.back().to_dtype();
  return single(meta(reduced_shape(x.sizes(), mask, false), dt));
}
Outputs where_shape(const Args& a) {
  // a or b may be a number (PyTorch's relu lowers to where(x <= 0.0, 0.0, x)); the
  // tensor operands have pred's shape and one dtype, which the result takes.
  const Tensor& p = a[0].to_tensor();
  AG_CHECK(p.dtype() == DType::Bool, "prims.where: expected a bool pred, got {}", p.describe());
  AG_CHECK(a[1].is_tensor() || a[2].is_tensor(), "prims.where: expected a or b to be a tensor, got two numbers");
  std::optional<Tensor> first;
  for (size_t i = 1; i <= 2; ++i) {
    if (!a[i].is_tensor()) continue;
    const Tensor& t = a[i].to_tensor();
    AG_CHECK(t.sizes() == p.sizes(), "prims.where: expected pred and {0} of one shape, got pred {1} and {0} {2}",
             i == 1 ? "a" : "b", p.describe(), t.describe());
    if (first) check_same_dtype(*first, t, "prims.where", "a", "b");
    first = t;
  }
  return single(meta(p.sizes(), first->dtype()));
}

Outputs full_shape(const Args& a) {
  for (int64_t d : a[0].to_int_list())
    AG_CHECK(d >= 0, "prims.full: negative size in {}", shape_str(a[0].to_int_list()));
  return single(meta(a[0].to_int_list(), a[2].to_dtype()));
}
}  // namespace

void register_prims_shapes(Registry& r) {
  for (OpId id : {OpId::prims_neg, OpId::prims_abs, OpId::prims_sign})
    r.shape(id, [](const Args& a) { return same_as_self(a); });
  r.shape(OpId::prims_exp, [](const Args& a) { return unary_float(a, "prims.exp"); });
  r.shape(OpId::prims_log, [](const Args& a) { return unary_float(a, "prims.log"); });
  r.shape(OpId::prims_sin, [](const Args& a) { return unary_float(a, "prims.sin"); });
  r.shape(OpId::prims_cos, [](const Args& a) { return unary_float(a, "prims.cos"); });
  r.shape(OpId::prims_tanh, [](const Args& a) { return unary_float(a, "prims.tanh"); });
  r.shape(OpId::prims_sqrt, [](const Args& a) { return unary_float(a, "prims.sqrt"); });
  r.shape(OpId::prims_rsqrt, [](const Args& a) { return unary_float(a, "prims.rsqrt"); });
  r.shape(OpId::prims_erf, [](const Args& a) { return unary_float(a, "prims.erf"); });
  r.shape(OpId::prims_reciprocal, [](const Args& a) { return unary_float(a, "prims.reciprocal"); });
  r.shape(OpId::prims_add, [](const Args& a) { return binary(a, "add", false); });
  r.shape(OpId::prims_sub, [](const Args& a) { return binary(a, "sub", false); });
  r.shape(OpId::prims_mul, [](const Args& a) { return binary(a, "mul", false); });
  r.shape(OpId::prims_div, [](const Args& a) { return binary(a, "div", false); });
  r.shape(OpId::prims_maximum, [](const Args& a) { return binary(a, "maximum", false); });
  r.shape(OpId::prims_minimum, [](const Args& a) { return binary(a, "minimum", false); });
  r.shape(OpId::prims_pow, [](const Args& a) { return binary(a, "pow", false); });
  r.shape(OpId::prims_eq, [](const Args& a) { return binary(a, "eq", true); });
  r.shape(OpId::prims_ne, [](const Args& a) { return binary(a, "ne", true); });
  r.shape(OpId::prims_gt, [](const Args& a) { return binary(a, "gt", true); });
  r.shape(OpId::prims_ge, [](const Args& a) { return binary(a, "ge", true); });
  r.shape(OpId::prims_lt, [](const Args& a) { return binary(a, "lt", true); });
  r.shape(OpId::prims_le, [](const Args& a) { return binary(a, "le", true); });
  r.shape(OpId::prims_bitwise_and, [](const Args& a) {
    AG_CHECK(a[0].to_tensor().dtype() == DType::Bool, "prims.bitwise_and: expected bool operands, got {}",
             a[0].to_tensor().describe());
    return binary(a, "bitwise_and", false);
  });
  r.shape(OpId::prims_where, where_shape);
  r.shape(OpId::prims_view_of, whole_view);
  r.shape(OpId::prims_convert_element_type,
          [](const Args& a) { return single(meta(a[0].to_tensor().sizes(), a[1].to_dtype())); });
  r.shape(OpId::prims_clone, [](const Args& a) { return same_as_self(a); });
  r.shape(OpId::prims_full, full_shape);
  r.shape(OpId::prims_broadcast_in_dim, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    const IntList &shape = a[1].to_int_list(), &dims = a[2].to_int_list();
    AG_CHECK(static_cast<int64_t>(dims.size()) == x.dim(),
             "prims.broadcast_in_dim: expected one broadcast dimension per input dim ({}), got {}", x.dim(),
             shape_str(dims));
    Shape strides(shape.size(), 0);
    int64_t prev = -1;
    for (size_t i = 0; i < dims.size(); ++i) {
      const int64_t d = dims[i];
      AG_CHECK(d > prev && d < static_cast<int64_t>(shape.size()),
               "prims.broadcast_in_dim: broadcast_dimensions {} must increase and index shape {}", shape_str(dims),
               shape_str(shape));
      AG_CHECK(x.size(i) == shape[d] || x.size(i) == 1,
               "prims.broadcast_in_dim: input dim {} (size {}) cannot broadcast to size {}", i, x.size(i), shape[d]);
      strides[d] = x.size(i) == shape[d] ? x.stride(i) : 0;
      prev = d;
    }
    return single(Tensor::meta(shape, x.dtype(), strides, x.storage_offset()));
  });
  r.shape(OpId::prims_transpose, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    const IntList& perm = a[1].to_int_list();
    AG_CHECK(static_cast<int64_t>(perm.size()) == x.dim(), "prims.transpose: permutation {} does not fit {}",
             shape_str(perm), x.describe());
    std::vector<bool> seen(perm.size(), false);
    Shape sizes, strides;
    for (int64_t p : perm) {
      AG_CHECK(p >= 0 && p < x.dim() && !seen[p], "prims.transpose: {} is not a permutation", shape_str(perm));
      seen[p] = true;
      sizes.push_back(x.size(p));
      strides.push_back(x.stride(p));
    }
    return single(Tensor::meta(sizes, x.dtype(), strides, x.storage_offset()));
  });
  r.shape(OpId::prims_squeeze, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    std::vector<bool> drop(x.dim(), false);
    for (int64_t d : a[1].to_int_list()) {
      AG_CHECK(d >= 0 && d < x.dim() && x.size(d) == 1, "prims.squeeze: dim {} of {} is not of size 1", d,
               x.describe());
      drop[d] = true;
    }
    Shape sizes, strides;
    for (int64_t i = 0; i < x.dim(); ++i)
      if (!drop[i]) {
        sizes.push_back(x.size(i));
        strides.push_back(x.stride(i));
      }
    return single(Tensor::meta(sizes, x.dtype(), strides, x.storage_offset()));
  });
  r.shape(OpId::prims_slice, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    const IntList &start = a[1].to_int_list(), &limit = a[2].to_int_list();
    IntList step = a[3].is_none() ? IntList(x.dim(), 1) : a[3].to_int_list();
    AG_CHECK(
        static_cast<int64_t>(start.size()) == x.dim() && limit.size() == start.size() && step.size() == start.size(),
        "prims.slice: expected start, limit and strides with {} entries each", x.dim());
    Shape sizes, strides;
    int64_t offset = x.storage_offset();
    for (int64_t i = 0; i < x.dim(); ++i) {
      AG_CHECK(0 <= start[i] && start[i] <= limit[i] && limit[i] <= x.size(i) && step[i] > 0,
               "prims.slice: dim {}: start {}, limit {}, stride {} do not fit size {}", i, start[i], limit[i], step[i],
               x.size(i));
      sizes.push_back((limit[i] - start[i] + step[i] - 1) / step[i]);
      strides.push_back(x.stride(i) * step[i]);
      offset += start[i] * x.stride(i);
    }
    return single(Tensor::meta(sizes, x.dtype(), strides, offset));
  });
  r.shape(OpId::prims_reshape, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    const IntList& shape = a[1].to_int_list();
    AG_CHECK(shape_numel(shape) == x.numel(), "prims.reshape: cannot reshape {} to {}", x.describe(), shape_str(shape));
    std::optional<Shape> strides = view_strides(x.sizes(), x.strides(), shape);
    AG_CHECK(strides.has_value(), "prims.reshape: {} with strides {} cannot be viewed as {}", x.describe(),
             shape_str(x.strides()), shape_str(shape));
    return single(Tensor::meta(shape, x.dtype(), *strides, x.storage_offset()));
  });
  r.shape(OpId::prims_cat, [](const Args& a) {
    const TensorList& ts = a[0].to_tensor_list();
    AG_CHECK(!ts.empty(), "prims.cat: expected at least one tensor");
    const int64_t d = a[1].to_int();
    AG_CHECK(d >= 0 && d < ts[0].dim(), "prims.cat: dim {} out of range for {}", d, ts[0].describe());
    Shape out = ts[0].sizes();
    for (size_t i = 1; i < ts.size(); ++i) {
      AG_CHECK(ts[i].dim() == ts[0].dim() && ts[i].dtype() == ts[0].dtype(),
               "prims.cat: tensor {} is {}, but tensor 0 is {}", i, ts[i].describe(), ts[0].describe());
      for (int64_t k = 0; k < ts[0].dim(); ++k)
        AG_CHECK(k == d || ts[i].size(k) == out[k], "prims.cat: tensor {} is {}, which does not match {} off dim {}", i,
                 ts[i].describe(), ts[0].describe(), d);
      out[d] += ts[i].size(d);
    }
    return single(meta(out, ts[0].dtype()));
  });
  r.shape(OpId::prims_sum, [](const Args& a) { return reduce(a, "prims.sum", false); });
  r.shape(OpId::prims_amax, [](const Args& a) { return reduce(a, "prims.amax", false); });
  r.shape(OpId::prims_var, [](const Args& a) { return reduce(a, "prims.var", true); });
}

}  // namespace aotgrad::ops
