// Shape arithmetic shared by shape rules and kernels: broadcasting, dim
// normalisation, strided iteration.
#pragma once

#include <string_view>

#include "aotgrad/tensor.h"

namespace aotgrad {

/// Wraps a possibly negative dim into [0, ndim). `op` and `arg` name the caller in errors.
int64_t normalize_dim(int64_t dim, int64_t ndim, std::string_view op, std::string_view arg = "dim");
/// Like normalize_dim but for inserting a dim (range [-(ndim+1), ndim]).
int64_t normalize_insert_dim(int64_t dim, int64_t ndim, std::string_view op);
/// NumPy broadcasting of two shapes; the error names `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op);
/// Strides of `t` seen at shape `out` (0 along broadcast dims). `out` must be a
/// broadcast of t's shape.
Shape broadcast_strides(const Shape& sizes, const Shape& strides, const Shape& out);
/// True if `sizes`/`strides` lay the elements out row-major without gaps.
bool is_contiguous_layout(const Shape& sizes, const Shape& strides);

/// Calls fn(offset) for each element of a strided layout, in row-major order
/// (offsets in elements, relative to the first element).
template <typename F>
void for_each_offset(const Shape& sizes, const Shape& strides, F&& fn) {
  const int64_t nd = static_cast<int64_t>(sizes.size());
  int64_t n = shape_numel(sizes);
  if (n == 0) return;
  if (nd == 0) {
    fn(int64_t{0});
    return;
  }
  std::vector<int64_t> idx(nd, 0);
  const int64_t inner = sizes[nd - 1], inner_stride = strides[nd - 1];
  int64_t base = 0;
  for (int64_t done = 0; done < n; done += inner) {
    for (int64_t i = 0; i < inner; ++i) fn(base + i * inner_stride);
    for (int64_t d = nd - 2; d >= 0; --d) {
      if (++idx[d] < sizes[d]) {
        base += strides[d];
        break;
      }
      base -= strides[d] * (sizes[d] - 1);
      idx[d] = 0;
    }
  }
}

}  // namespace aotgrad
