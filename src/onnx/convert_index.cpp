// Element-wise gathers and scatters, one-hot encodings and identity matrices, all as
// advanced indexing with grids of constant indices.
#include <numeric>

#include "onnx/convert.h"

namespace aotgrad::onnx_io {

namespace {

// 0, 1, …, n-1 laid along dim `d` of a rank-`rank` tensor (size 1 elsewhere), a constant.
Tensor arange_along(int64_t n, int64_t d, int64_t rank) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  Shape s(static_cast<size_t>(rank), 1);
  s[static_cast<size_t>(d)] = n;
  return Tensor::from_vector<int64_t>(v, s);
}

// Indices in [-n, n) made non-negative (computed, so traced when they come from the model).
Tensor wrap_negative(const Tensor& idx, int64_t n) {
  Tensor i = idx.dtype() == DType::Int64 ? idx : to(idx, DType::Int64);
  return where(lt(i, 0), add(i, n), i);
}

// The index list addressing data[grid_0, …, idx (at axis), …, grid_r]: each grid the
// positions along its own dim, broadcast against idx.
TensorList element_indices(const Tensor& idx, int64_t axis, int64_t rank) {
  TensorList out;
  for (int64_t d = 0; d < rank; ++d) out.push_back(d == axis ? idx : arange_along(idx.size(d), d, rank));
  return out;
}

}  // namespace

TensorList convert_gather_elements(NodeContext& ctx) {
  const Tensor& data = ctx.in(0);
  const int64_t axis = normalize_axis(ctx.attr_int("axis", 0), data.dim(), "axis");
  Tensor idx = wrap_negative(ctx.in(1), data.size(axis));
  AG_CHECK(idx.dim() == data.dim(), "GatherElements: indices {} and data {} differ in rank", idx.describe(),
           data.describe());
  return {index(data, element_indices(idx, axis, data.dim()))};
}

// ScatterElements, and Scatter (its name before opset 11).
TensorList convert_scatter_elements(NodeContext& ctx) {
  const Tensor& data = ctx.in(0);
  const int64_t axis = normalize_axis(ctx.attr_int("axis", 0), data.dim(), "axis");
  Tensor idx = wrap_negative(ctx.in(1), data.size(axis));
  const std::string reduction = ctx.attr_string("reduction", "none");
  if (reduction != "none" && reduction != "add") ctx.unsupported("ScatterElements reduction '{}'", reduction);
  return {index_put(data, element_indices(idx, axis, data.dim()), ctx.in(2), reduction == "add")};
}

TensorList convert_gather_nd(NodeContext& ctx) {
  const Tensor& data = ctx.in(0);
  const Tensor& idx = ctx.in(1);
  if (ctx.attr_int("batch_dims", 0) != 0) ctx.unsupported("GatherND batch_dims {}", ctx.attr_int("batch_dims", 0));
  AG_CHECK(idx.dim() >= 1 && idx.size(-1) <= data.dim(), "GatherND: indices {} do not index data {}", idx.describe(),
           data.describe());
  TensorList per_dim;
  for (int64_t j = 0; j < idx.size(-1); ++j) per_dim.push_back(wrap_negative(select(idx, -1, j), data.size(j)));
  return {index(data, per_dim)};
}

TensorList convert_one_hot(NodeContext& ctx) {
  const Tensor& indices = ctx.in(0);
  const auto depth = static_cast<int64_t>(ctx.scalar(1, "depth"));
  AG_CHECK(depth >= 0, "OneHot: negative depth {}", depth);
  const Tensor& values = ctx.in(2);
  AG_CHECK(values.numel() == 2, "OneHot: values must be [off, on], got {}", values.describe());
  const int64_t rank = indices.dim() + 1;
  const int64_t axis = normalize_axis(ctx.attr_int("axis", -1), rank, "axis");
  Tensor idx = indices.is_floating_point() ? to(indices, DType::Int64) : indices;
  Tensor hot = eq(unsqueeze(wrap_negative(idx, depth), axis), arange_along(depth, axis, rank));
  Tensor flat = reshape(values, {2});
  return {where(hot, select(flat, 0, 1), select(flat, 0, 0))};
}

TensorList convert_eye_like(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  AG_CHECK(x.dim() == 2, "EyeLike needs a 2-D input, got {}", x.describe());
  const DType dt =
      ctx.has_attr("dtype") ? ctx.dtype_from_elem_type(ctx.attr_int("dtype", 1), "EyeLike dtype") : x.dtype();
  const int64_t k = ctx.attr_int("k", 0);
  StaticScope constant;  // depends on the shape alone
  Tensor on = eq(add(arange_along(x.size(0), 0, 2), k), arange_along(x.size(1), 1, 2));
  return {to(on, dt)};
}

}  // namespace aotgrad::onnx_io
