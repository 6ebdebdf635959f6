// Shape rules of the view family: each computes the sizes, strides and storage
// offset of a view of `self` (the dispatcher then aliases self's storage).
#include <algorithm>
#include <optional>

#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

namespace {

Tensor view_meta(const Tensor& x, Shape sizes, Shape strides, int64_t offset) {
  return Tensor::meta(sizes, x.dtype(), std::move(strides), offset);
}

}  // namespace

/// Resolves one -1 in `sizes` against `numel`; the error names `op`.
SymInt sym_numel(const Tensor& t) {
  SymInt n(1);
  for (const SymInt& s : t.sym_sizes()) n = n * s;
  return n;
}

SymShape infer_size(const SymShape& sizes, const SymShape& in, std::string_view op) {
  SymInt numel(1), known(1);
  for (const SymInt& s : in) numel = numel * s;
  const Shape values = infer_size(hints_of(sizes), numel.hint, op);
  SymShape out = sizes;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].hint == -1) continue;
    known = known * out[i];
  }
  for (size_t i = 0; i < out.size(); ++i)
    if (out[i].hint == -1) out[i] = SymInt(floordiv(numel.expr, known.expr), values[i]);
  return out;
}

Shape infer_size(const IntList& sizes, int64_t numel, std::string_view op) {
  Shape out(sizes.begin(), sizes.end());
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      AG_CHECK(infer < 0, "{}: only one dimension can be inferred (-1), but got shape {}", op, shape_str(out));
      infer = static_cast<int64_t>(i);
    } else {
      AG_CHECK(out[i] >= 0, "{}: invalid size {} in shape {}", op, out[i], shape_str(out));
      // Checked: a hostile shape's product must not wrap (it then cannot match numel).
      AG_CHECK(!__builtin_mul_overflow(known, out[i], &known), "{}: shape {} is invalid for input of size {}", op,
               shape_str(out), numel);
    }
  }
  if (infer >= 0) {
    AG_CHECK(known != 0 && numel % known == 0, "{}: shape {} is invalid for input of size {}", op, shape_str(out),
             numel);
    out[infer] = numel / known;
  } else {
    AG_CHECK(known == numel, "{}: shape {} is invalid for input of size {}", op, shape_str(out), numel);
  }
  return out;
}

/// Strides that let `new_sizes` view the layout (sizes, strides), or nullopt when
/// no view can (then a copy is needed, as reshape makes).
std::optional<Shape> view_strides(const Shape& sizes, const Shape& strides, const Shape& new_sizes) {
  if (sizes.empty() || shape_numel(sizes) == 0) return contiguous_strides(new_sizes);
  Shape ns(new_sizes.size());
  int64_t view_d = static_cast<int64_t>(new_sizes.size()) - 1;
  int64_t base = strides.back(), tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
    tensor_numel *= sizes[d];
    if (d == 0 || (sizes[d - 1] != 1 && strides[d - 1] != tensor_numel * base)) {
      while (view_d >= 0 && (view_numel < tensor_numel || new_sizes[view_d] == 1)) {
        ns[view_d] = view_numel * base;
        view_numel *= new_sizes[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        base = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return ns;
}

namespace {

Outputs view_rule(const Args& a, std::string_view op) {
  const Tensor& x = a[0].to_tensor();
  Shape sizes = infer_size(a[1].to_int_list(), x.numel(), op);
  auto st = view_strides(x.sizes(), x.strides(), sizes);
  AG_CHECK(st.has_value(),
           "{}: size {} is not compatible with input {} of strides {} (a view would need to "
           "split or merge non-contiguous dims); use reshape instead",
           op, shape_str(sizes), x.describe(), shape_str(x.strides()));
  return single(view_meta(x, sizes, *st, x.storage_offset()));
}

Outputs permute_rule(const Tensor& x, const IntList& dims) {
  AG_CHECK(static_cast<int64_t>(dims.size()) == x.dim(),
           "permute: expected dims of length {} to match self {}, but got {}", x.dim(), x.describe(), shape_str(dims));
  Shape sizes(dims.size()), strides(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = normalize_dim(dims[i], x.dim(), "permute");
    AG_CHECK(!seen[d], "permute: dim {} repeats in dims {}", d, shape_str(dims));
    seen[d] = true;
    sizes[i] = x.sizes()[d];
    strides[i] = x.strides()[d];
  }
  return single(view_meta(x, sizes, strides, x.storage_offset()));
}

Outputs transpose_rule(const Tensor& x, int64_t d0, int64_t d1) {
  Shape sizes = x.sizes(), strides = x.strides();
  if (x.dim() == 0) return single(view_meta(x, sizes, strides, x.storage_offset()));
  d0 = normalize_dim(d0, x.dim(), "transpose", "dim0");
  d1 = normalize_dim(d1, x.dim(), "transpose", "dim1");
  std::swap(sizes[d0], sizes[d1]);
  std::swap(strides[d0], strides[d1]);
  return single(view_meta(x, sizes, strides, x.storage_offset()));
}

// Splits dim `dim` of x into pieces of the given lengths.
Outputs split_rule(const Tensor& x, const IntList& lengths, int64_t dim) {
  TensorList pieces;
  int64_t start = 0;
  for (int64_t len : lengths) {
    Shape sizes = x.sizes();
    sizes[dim] = len;
    pieces.push_back(view_meta(x, sizes, x.strides(), x.storage_offset() + start * x.strides()[dim]));
    start += len;
  }
  return {IValue(std::move(pieces))};
}

}  // namespace

Outputs whole_view(const Args& a) {
  const Tensor& x = a[0].to_tensor();
  return single(view_meta(x, x.sizes(), x.strides(), x.storage_offset()));
}

void register_view_shapes(Registry& r) {
  r.shape(OpId::view, [](const Args& a) { return view_rule(a, "view"); });
  r.shape(OpId::_unsafe_view, [](const Args& a) { return view_rule(a, "_unsafe_view"); });
  r.shape(OpId::t, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    AG_CHECK(x.dim() <= 2, "t: expected a tensor with at most 2 dims, but got {}", x.describe());
    return transpose_rule(x, 0, x.dim() < 2 ? 0 : 1);
  });
  r.shape(OpId::transpose_int,
          [](const Args& a) { return transpose_rule(a[0].to_tensor(), a[1].to_int(), a[2].to_int()); });
  r.shape(OpId::permute, [](const Args& a) { return permute_rule(a[0].to_tensor(), a[1].to_int_list()); });
  r.shape(OpId::expand, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    const IntList& want = a[1].to_int_list();
    AG_CHECK(want.size() >= static_cast<size_t>(x.dim()),
             "expand: the number of sizes provided ({}) must be at least the number of dims of "
             "self {} ({})",
             want.size(), x.describe(), x.dim());
    size_t lead = want.size() - x.dim();
    Shape sizes(want.size()), strides(want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      if (i < lead) {
        AG_CHECK(want[i] >= 0, "expand: size -1 is not allowed for the new leading dim {}", i);
        sizes[i] = want[i];
        strides[i] = 0;
        continue;
      }
      int64_t have = x.sizes()[i - lead];
      int64_t w = want[i] == -1 ? have : want[i];
      AG_CHECK(have == w || have == 1,
               "expand: the expanded size {} must match the existing size {} at non-singleton dim "
               "{} (self {}, sizes {})",
               w, have, i, x.describe(), shape_str(want));
      sizes[i] = w;
      strides[i] = have == w ? x.strides()[i - lead] : 0;
    }
    return single(view_meta(x, sizes, strides, x.storage_offset()));
  });
  r.shape(OpId::unsqueeze, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    int64_t d = normalize_insert_dim(a[1].to_int(), x.dim(), "unsqueeze");
    Shape sizes = x.sizes(), strides = x.strides();
    int64_t st = d < x.dim() ? sizes[d] * strides[d] : 1;
    sizes.insert(sizes.begin() + d, 1);
    strides.insert(strides.begin() + d, st);
    return single(view_meta(x, sizes, strides, x.storage_offset()));
  });
  r.shape(OpId::squeeze_dim, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    Shape sizes = x.sizes(), strides = x.strides();
    if (x.dim() > 0) {
      int64_t d = normalize_dim(a[1].to_int(), x.dim(), "squeeze");
      if (sizes[d] == 1) {
        sizes.erase(sizes.begin() + d);
        strides.erase(strides.begin() + d);
      }
    }
    return single(view_meta(x, sizes, strides, x.storage_offset()));
  });
  r.shape(OpId::squeeze, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    Shape sizes, strides;
    for (int64_t d = 0; d < x.dim(); ++d)
      if (x.sizes()[d] != 1) {
        sizes.push_back(x.sizes()[d]);
        strides.push_back(x.strides()[d]);
      }
    return single(view_meta(x, sizes, strides, x.storage_offset()));
  });
  r.shape(OpId::slice_Tensor, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    AG_CHECK(x.dim() > 0, "slice: cannot slice a 0-d tensor");
    int64_t d = normalize_dim(a[1].to_int(), x.dim(), "slice");
    int64_t n = x.sizes()[d], step = a[4].to_int();
    AG_CHECK(step > 0, "slice: expected step > 0, but got {}", step);
    int64_t start = a[2].is_none() ? 0 : a[2].to_int();
    int64_t end = a[3].is_none() ? n : a[3].to_int();
    if (start < 0) start += n;
    if (end < 0) end += n;
    start = std::clamp<int64_t>(start, 0, n);
    end = std::clamp<int64_t>(end, start, n);
    Shape sizes = x.sizes(), strides = x.strides();
    sizes[d] = end == start ? 0 : (end - start - 1) / step + 1;  // ceil, without overflow for a huge step
    if (sizes[d] > 1) strides[d] *= step;  // then step < n, so the stride stays within the storage
    return single(view_meta(x, sizes, strides, x.storage_offset() + start * x.strides()[d]));
  });
  r.shape(OpId::select_int, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    AG_CHECK(x.dim() > 0, "select: cannot select from a 0-d tensor");
    int64_t d = normalize_dim(a[1].to_int(), x.dim(), "select");
    int64_t n = x.sizes()[d], i = a[2].to_int();
    AG_CHECK(i >= -n && i < n, "select: index {} out of range for dim {} of size {} (self {})", i, d, n, x.describe());
    if (i < 0) i += n;
    Shape sizes = x.sizes(), strides = x.strides();
    sizes.erase(sizes.begin() + d);
    strides.erase(strides.begin() + d);
    return single(view_meta(x, sizes, strides, x.storage_offset() + i * x.strides()[d]));
  });
  r.shape(OpId::as_strided, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    const IntList &sizes = a[1].to_int_list(), &strides = a[2].to_int_list();
    AG_CHECK(sizes.size() == strides.size(),
             "as_strided: expected size and stride of the same length, but got {} and {}", shape_str(sizes),
             shape_str(strides));
    int64_t off = a[3].is_none() ? x.storage_offset() : a[3].to_int();
    AG_CHECK(off >= 0, "as_strided: negative storage_offset {}", off);
    return single(view_meta(x, sizes, strides, off));
  });
  r.shape(OpId::alias, whole_view);
  r.shape(OpId::detach, whole_view);
  r.shape(OpId::split_Tensor, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    AG_CHECK(x.dim() > 0, "split: cannot split a 0-d tensor");
    int64_t d = normalize_dim(a[2].to_int(), x.dim(), "split");
    int64_t size = a[1].to_int(), n = x.sizes()[d];
    AG_CHECK(size > 0 || n == 0, "split: expected split_size > 0, but got {}", size);
    IntList lengths;
    for (int64_t s = 0; s < n; s += size) lengths.push_back(std::min(size, n - s));
    if (lengths.empty()) lengths.push_back(0);
    return split_rule(x, lengths, d);
  });
  r.shape(OpId::split_with_sizes, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    int64_t d = normalize_dim(a[2].to_int(), x.dim(), "split_with_sizes");
    const IntList& lengths = a[1].to_int_list();
    int64_t total = 0;
    for (int64_t l : lengths) total += l;
    AG_CHECK(total == x.sizes()[d],
             "split_with_sizes: expected split_sizes {} to sum to the size {} of dim {} of self {}, "
             "but they sum to {}",
             shape_str(lengths), x.sizes()[d], d, x.describe(), total);
    return split_rule(x, lengths, d);
  });
}

}  // namespace aotgrad::ops
