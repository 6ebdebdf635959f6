// Lowerings of the view family to the prims' views (transpose, broadcast_in_dim,
// squeeze, slice, reshape).
#include <algorithm>

#include "ops/lowerings/lower.h"

namespace aotgrad::ops {

using namespace lower;

namespace {
// ATen's slice bounds: negative values count from the end, then clamp to the size.
std::pair<int64_t, int64_t> slice_bounds(const IValue& start, const IValue& end, int64_t size) {
  int64_t s = start.is_none() ? 0 : start.to_int();
  int64_t e = end.is_none() ? size : end.to_int();
  if (s < 0) s += size;
  if (e < 0) e += size;
  s = std::clamp<int64_t>(s, 0, size);
  e = std::clamp<int64_t>(e, s, size);
  return {s, e};
}

Tensor slice_dim(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  IntList lo(x.dim(), 0), hi(x.sizes().begin(), x.sizes().end()), st(x.dim(), 1);
  lo[dim] = start;
  hi[dim] = end;
  st[dim] = step;
  return prims::slice(x, lo, hi, st);
}

Outputs split_at(const Tensor& x, int64_t dim, const IntList& sizes) {
  TensorList parts;
  int64_t at = 0;
  for (int64_t s : sizes) {
    parts.push_back(slice_dim(x, dim, at, at + s, 1));
    at += s;
  }
  return {IValue(parts)};
}
// A view stays a view: as_strided over the same storage with the strides the view
// gives (SPEC.md §7 keeps as_strided in the lowered set, as PyTorch's table does).
Tensor view_as_strided(const Tensor& x, const IntList& size) {
  const Shape sizes = infer_size(size, x.numel(), "view");
  std::optional<Shape> strides = view_strides(x.sizes(), x.strides(), sizes);
  AG_CHECK(strides.has_value(),
           "view: the shape {} is not compatible with the input's layout {} (strides {}); use reshape",
           shape_str(sizes), shape_str(x.sizes()), shape_str(x.strides()));
  return as_strided(x, sizes, *strides, std::nullopt);
}
// transpose(x, d0, d1): the identity permutation with d0 and d1 swapped.
Outputs transpose_lowering(const Args& a) {
  const Tensor& x = a[0].to_tensor();
  IntList perm(x.dim());
  for (int64_t i = 0; i < x.dim(); ++i) perm[i] = i;
  if (x.dim() > 0)
    std::swap(perm[normalize_dim(a[1].to_int(), x.dim(), "transpose")],
              perm[normalize_dim(a[2].to_int(), x.dim(), "transpose")]);
  return single(prims::transpose(x, perm));
}
}  // namespace

void register_view_lowerings(Registry& r) {
  r.decomposition(OpId::detach, [](const Args& a) { return single(prims::view_of(a[0].to_tensor())); });
  r.decomposition(OpId::view,
                  [](const Args& a) { return single(view_as_strided(a[0].to_tensor(), a[1].to_int_list())); });
  r.decomposition(OpId::_unsafe_view, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    return single(prims::reshape(x, infer_size(a[1].to_int_list(), x.numel(), "_unsafe_view")));
  });
  r.decomposition(OpId::t, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    return single(prims::transpose(x, x.dim() == 2 ? IntList{1, 0} : x.dim() == 1 ? IntList{0} : IntList{}));
  });
  r.decomposition(OpId::transpose_int, transpose_lowering);
  r.decomposition(OpId::permute, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    IntList perm;
    for (int64_t d : a[1].to_int_list()) perm.push_back(normalize_dim(d, x.dim(), "permute"));
    return single(prims::transpose(x, perm));
  });
  r.decomposition(OpId::expand, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    const Shape out = run_shape(op_info(OpId::expand), a)[0].to_tensor().sizes();
    IntList dims;
    for (int64_t i = 0; i < x.dim(); ++i) dims.push_back(static_cast<int64_t>(out.size()) - x.dim() + i);
    return single(prims::broadcast_in_dim(x, out, dims));
  });
  r.decomposition(OpId::unsqueeze, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    const int64_t d = normalize_dim(a[1].to_int(), x.dim() + 1, "unsqueeze");
    Shape out = x.sizes();
    out.insert(out.begin() + d, 1);
    IntList dims;
    for (int64_t i = 0; i <= x.dim(); ++i)
      if (i != d) dims.push_back(i);
    return single(prims::broadcast_in_dim(x, out, dims));
  });
  r.decomposition(OpId::squeeze_dim, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    if (x.dim() == 0) return single(prims::squeeze(x, {}));
    const int64_t d = normalize_dim(a[1].to_int(), x.dim(), "squeeze");
    return single(prims::squeeze(x, x.size(d) == 1 ? IntList{d} : IntList{}));
  });
  r.decomposition(OpId::squeeze, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    IntList dims;
    for (int64_t i = 0; i < x.dim(); ++i)
      if (x.size(i) == 1) dims.push_back(i);
    return single(prims::squeeze(x, dims));
  });
  r.decomposition(OpId::slice_Tensor, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    const int64_t d = normalize_dim(a[1].to_int(), x.dim(), "slice");
    auto [s, e] = slice_bounds(a[2], a[3], x.size(d));
    return single(slice_dim(x, d, s, e, a[4].to_int()));
  });
  r.decomposition(OpId::select_int, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    const int64_t d = normalize_dim(a[1].to_int(), x.dim(), "select");
    int64_t i = a[2].to_int();
    if (i < 0) i += x.size(d);
    AG_CHECK(i >= 0 && i < x.size(d), "select: index {} out of range for dim {} of {}", a[2].to_int(), d, x.describe());
    return single(prims::squeeze(slice_dim(x, d, i, i + 1, 1), {d}));
  });
  r.decomposition(OpId::split_Tensor, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    const int64_t d = normalize_dim(a[2].to_int(), x.dim(), "split");
    const int64_t size = a[1].to_int();
    IntList sizes;
    for (int64_t at = 0; at < x.size(d); at += size) sizes.push_back(std::min(size, x.size(d) - at));
    if (sizes.empty()) sizes.push_back(0);
    return split_at(x, d, sizes);
  });
  r.decomposition(OpId::split_with_sizes, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    run_shape(op_info(OpId::split_with_sizes), a);  // checks the sizes add up
    return split_at(x, normalize_dim(a[2].to_int(), x.dim(), "split_with_sizes"), a[1].to_int_list());
  });
}

}  // namespace aotgrad::ops
