#include "core/shape.h"

#include "support/error.h"

namespace aotgrad {

std::string shape_str(const Shape& s) {
  return fmt::format("[{}]", fmt::join(s, ", "));
}

int64_t shape_numel(const Shape& s) {
  for (int64_t d : s)
    if (d == 0) return 0;
  int64_t n = 1;
  for (int64_t d : s) {
    const int64_t magnitude = d == INT64_MIN ? kMaxNumel + 1 : (d < 0 ? -d : d);
    const int64_t so_far = n < 0 ? -n : n;
    AG_CHECK(magnitude <= kMaxNumel && so_far <= kMaxNumel / magnitude,
             "shape {} has more elements than a tensor may have (at most 2^48)", shape_str(s));
    n *= d;
  }
  return n;
}

Shape contiguous_strides(const Shape& sizes) {
  (void)shape_numel(sizes);  // rejects shapes whose strides would wrap around
  Shape st(sizes.size());
  int64_t acc = 1;
  for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
    st[d] = acc;
    // An empty tensor passes shape_numel with any other sizes; its strides must still fit.
    AG_CHECK(!__builtin_mul_overflow(acc, std::max<int64_t>(sizes[d], 1), &acc),
             "shape {} is too large: its strides overflow", shape_str(sizes));
  }
  return st;
}

int64_t normalize_dim(int64_t dim, int64_t ndim, std::string_view op, std::string_view arg) {
  int64_t n = std::max<int64_t>(ndim, 1);  // a 0-d tensor accepts dim 0 and -1
  AG_CHECK(dim >= -n && dim < n,
           "{}: {} out of range: expected a value in [{}, {}] for a tensor with {} dims, but got {}", op, arg, -n,
           n - 1, ndim, dim);
  return dim < 0 ? dim + n : dim;
}

int64_t normalize_insert_dim(int64_t dim, int64_t ndim, std::string_view op) {
  AG_CHECK(dim >= -(ndim + 1) && dim <= ndim, "{}: dim out of range: expected a value in [{}, {}], but got {}", op,
           -(ndim + 1), ndim, dim);
  return dim < 0 ? dim + ndim + 1 : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, std::string_view op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    AG_CHECK(da == db || da == 1 || db == 1,
             "{}: shapes {} and {} cannot be broadcast together: size {} vs {} at dim {}", op, shape_str(a),
             shape_str(b), da, db, i);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Shape broadcast_strides(const Shape& sizes, const Shape& strides, const Shape& out) {
  Shape res(out.size(), 0);
  size_t lead = out.size() - sizes.size();
  for (size_t i = 0; i < sizes.size(); ++i) res[lead + i] = sizes[i] == 1 ? 0 : strides[i];
  return res;
}

bool is_contiguous_layout(const Shape& sizes, const Shape& strides) {
  int64_t expected = 1;
  for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
    if (sizes[d] == 1) continue;
    if (strides[d] != expected) return false;
    expected *= sizes[d];
  }
  return true;
}

}  // namespace aotgrad
