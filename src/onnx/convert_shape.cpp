// Constants, shapes, views, joins and indexing.
#include <algorithm>
#include <numeric>

#include "onnx/convert.h"

namespace aotgrad::onnx_io {

static Tensor int_tensor(const std::vector<int64_t>& v, bool scalar = false) {
  return Tensor::from_vector<int64_t>(v, scalar ? Shape{} : Shape{static_cast<int64_t>(v.size())});
}

TensorList convert_constant(NodeContext& ctx) {
  if (const Tensor* t = ctx.attr_tensor("value"))
    return {t->is_floating_point() && t->dtype() != ctx.float_type() ? to(*t, ctx.float_type()) : clone(*t)};
  if (ctx.has_attr("value_float")) return {full({}, ctx.attr_float("value_float", 0), ctx.float_type())};
  if (ctx.has_attr("value_int")) return {int_tensor({ctx.attr_int("value_int", 0)}, true)};
  if (auto v = ctx.attr_ints("value_ints")) return {int_tensor(*v)};
  if (ctx.has_attr("value_floats")) {
    const auto& fl = ctx.node.attributes.at("value_floats").floats;
    return {to(Tensor::from_vector<double>(fl, {static_cast<int64_t>(fl.size())}), ctx.float_type())};
  }
  ctx.unsupported("a Constant that is not a number tensor (strings and sparse tensors are not supported)");
}

TensorList convert_constant_of_shape(NodeContext& ctx) {
  const SymShape shape = ctx.sym_ints(0, "shape");
  for (const SymInt& d : shape) AG_CHECK(d.hint >= 0, "ConstantOfShape: negative dimension {}", d.hint);
  if (const Tensor* v = ctx.attr_tensor("value")) {
    AG_CHECK(v->numel() == 1, "ConstantOfShape's value must have one element, got {}", v->describe());
    DType dt = v->is_floating_point() && v->dtype() == DType::Float32 ? ctx.float_type() : v->dtype();
    Scalar s = v->is_floating_point() ? Scalar(v->to_vector<double>()[0])
                                      : (v->dtype() == DType::Bool ? Scalar(v->to_vector<int64_t>()[0] != 0)
                                                                   : Scalar(v->to_vector<int64_t>()[0]));
    return {full(shape, s, dt)};
  }
  return {full(shape, 0.0, ctx.float_type())};
}

TensorList convert_shape(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t rank = x.dim();
  auto clamp_index = [&](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + rank : i, 0, rank); };
  const int64_t start = clamp_index(ctx.attr_int("start", 0));
  const int64_t end = clamp_index(ctx.attr_int("end", rank));
  const SymShape sizes = x.sym_sizes();
  const SymShape dims(sizes.begin() + start, sizes.begin() + std::max(start, end));
  if (x.has_symbolic_sizes()) ctx.set_sym_output(0, dims);
  return {int_tensor(hints_of(dims))};
}

TensorList convert_size(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  SymInt numel = 1;
  for (const SymInt& d : x.sym_sizes()) numel = numel * d;
  if (x.has_symbolic_sizes()) ctx.set_sym_output(0, {numel});
  return {int_tensor({numel.hint}, true)};
}

TensorList convert_reshape(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  SymShape shape;
  if (ctx.opset < 5) {
    for (int64_t d : ctx.attr_ints("shape").value_or(std::vector<int64_t>{})) shape.emplace_back(d);
  } else {
    shape = ctx.sym_ints(1, "shape");
  }
  const bool allow_zero = ctx.attr_int("allowzero", 0) != 0;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i].is_symbolic()) continue;
    if (shape[i].hint == 0 && !allow_zero) {
      AG_CHECK(static_cast<int64_t>(i) < x.dim(), "Reshape: 0 at position {} copies a dimension {} does not have", i,
               x.describe());
      shape[i] = x.sym_size(static_cast<int64_t>(i));
    }
    AG_CHECK(shape[i].hint >= -1, "Reshape: invalid dimension {}", shape[i].hint);
  }
  return {reshape(x, shape)};
}

TensorList convert_flatten(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  // Flatten's axis counts positions between dims: [-rank, rank].
  int64_t axis = ctx.attr_int("axis", 1);
  AG_CHECK(axis >= -x.dim() && axis <= x.dim(), "axis {} is out of range for rank {}", axis, x.dim());
  if (axis < 0) axis += x.dim();
  SymInt outer = 1, inner = 1;
  for (int64_t d = 0; d < x.dim(); ++d) (d < axis ? outer : inner) = (d < axis ? outer : inner) * x.sym_size(d);
  return {reshape(x, {outer, inner})};
}

TensorList convert_transpose(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  IntList perm(static_cast<size_t>(x.dim()));
  std::iota(perm.rbegin(), perm.rend(), 0);
  if (auto p = ctx.attr_ints("perm")) perm = *p;
  return {permute(x, perm)};
}

TensorList convert_squeeze(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  const SymShape sizes = x.sym_sizes();
  auto axes = ctx.attr_or_input_ints("axes", 1, 13);
  // Every dim of size 1: aten::squeeze, whose symbolic rule keeps a symbolic dim
  // with a guard that it is not 1 (a call at size 1 would squeeze it eagerly).
  if (!axes || axes->empty()) return {squeeze(x)};
  SymShape kept;
  std::vector<int64_t> norm;
  for (int64_t a : *axes) {
    norm.push_back(normalize_axis(a, x.dim(), "Squeeze axis"));
    const SymInt& d = sizes[static_cast<size_t>(norm.back())];
    AG_CHECK(!d.is_symbolic(), "Squeeze: axis {} of {} has the symbolic size {}, which Squeeze fixes at 1", a,
             x.describe(), d.expr.str());
    AG_CHECK(d.hint == 1, "Squeeze: axis {} of {} is not of size 1", a, x.describe());
  }
  for (int64_t d = 0; d < x.dim(); ++d)
    if (std::find(norm.begin(), norm.end(), d) == norm.end()) kept.push_back(sizes[static_cast<size_t>(d)]);
  return {reshape(x, kept)};
}

TensorList convert_unsqueeze(NodeContext& ctx) {
  Tensor x = ctx.in(0);
  auto axes = ctx.attr_or_input_ints("axes", 1, 13);
  AG_CHECK(axes && !axes->empty(), "Unsqueeze needs axes");
  const int64_t out_rank = x.dim() + static_cast<int64_t>(axes->size());
  std::vector<int64_t> norm;
  for (int64_t a : *axes) norm.push_back(normalize_axis(a, out_rank, "Unsqueeze axis"));
  std::sort(norm.begin(), norm.end());
  AG_CHECK(std::adjacent_find(norm.begin(), norm.end()) == norm.end(), "Unsqueeze: repeated axis");
  for (int64_t a : norm) x = unsqueeze(x, a);
  return {x};
}

TensorList convert_concat(NodeContext& ctx) {
  TensorList parts;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) parts.push_back(ctx.in(i));
  AG_CHECK(!parts.empty(), "Concat needs at least one input");
  const int64_t axis = normalize_axis(ctx.attr_int("axis", 0), parts[0].dim(), "axis");
  return {cat(parts, axis)};
}

TensorList convert_split(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t axis = normalize_axis(ctx.attr_int("axis", 0), x.dim(), "axis");
  const int64_t n = static_cast<int64_t>(ctx.node.outputs.size());
  std::optional<std::vector<int64_t>> sizes = ctx.attr_or_input_ints("split", 1, 13);
  if (!sizes || sizes->empty()) {
    AG_CHECK(x.size(axis) % n == 0, "Split: axis {} of {} does not split evenly into {} outputs", axis, x.describe(),
             n);
    sizes = std::vector<int64_t>(static_cast<size_t>(n), x.size(axis) / n);
  }
  AG_CHECK(static_cast<int64_t>(sizes->size()) == n, "Split: {} sizes for {} outputs", sizes->size(), n);
  return split_with_sizes(x, *sizes, axis);
}

// Indices start, start+step, … before `end` (steps may be negative), for slices that
// a strided view cannot express.
static Tensor index_range(int64_t start, int64_t end, int64_t step) {
  std::vector<int64_t> idx;
  for (int64_t i = start; step > 0 ? i < end : i > end; i += step) idx.push_back(i);
  return int_tensor(idx);
}

// Indexes dim `d` of `x` with `idx` (x[:, …, idx]).
static Tensor index_dim(const Tensor& x, int64_t d, const Tensor& idx) {
  TensorList indices(static_cast<size_t>(d));
  indices.push_back(idx);
  return index(x, indices);
}

TensorList convert_slice(NodeContext& ctx) {
  Tensor x = ctx.in(0);
  std::vector<int64_t> starts, ends, axes, steps;
  if (ctx.opset < 10) {
    starts = ctx.attr_ints("starts").value_or(std::vector<int64_t>{});
    ends = ctx.attr_ints("ends").value_or(std::vector<int64_t>{});
    axes = ctx.attr_ints("axes").value_or(std::vector<int64_t>{});
  } else {
    starts = ctx.ints(1, "starts");
    ends = ctx.ints(2, "ends");
    if (ctx.has(3)) axes = ctx.ints(3, "axes");
    if (ctx.has(4)) steps = ctx.ints(4, "steps");
  }
  AG_CHECK(starts.size() == ends.size(), "Slice: {} starts and {} ends", starts.size(), ends.size());
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  AG_CHECK(axes.size() == starts.size() && steps.size() == starts.size(),
           "Slice: starts, ends, axes and steps differ "
           "in length");
  for (size_t i = 0; i < starts.size(); ++i) {
    const int64_t d = normalize_axis(axes[i], x.dim(), "Slice axis");
    const int64_t n = x.size(d), step = steps[i];
    AG_CHECK(step != 0, "Slice: step 0 on axis {}", axes[i]);
    auto norm = [&](int64_t v, int64_t lo, int64_t hi) { return std::clamp<int64_t>(v < 0 ? v + n : v, lo, hi); };
    if (step > 0) {
      const int64_t s = norm(starts[i], 0, n), e = norm(ends[i], 0, n);
      x = slice(x, d, s, std::max(s, e), step);
    } else {
      const int64_t s = norm(starts[i], -1, n - 1), e = norm(ends[i], -1, n - 1);
      x = index_dim(x, d, index_range(s, e, step));
    }
  }
  return {x};
}

TensorList convert_gather(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t axis = normalize_axis(ctx.attr_int("axis", 0), x.dim(), "axis");
  const int64_t n = x.size(axis);
  Tensor idx = ctx.in(1);
  if (ctx.is_static(1)) {
    std::vector<int64_t> v = idx.to_vector<int64_t>();
    for (int64_t& i : v) {
      AG_CHECK(i >= -n && i < n, "Gather: index {} is out of range for axis {} of size {}", i, axis, n);
      if (i < 0) i += n;
    }
    if (idx.dim() == 0) return {select(x, axis, v[0])};
    idx = Tensor::from_vector<int64_t>(v, idx.sizes());
  } else {
    if (idx.dtype() != DType::Int64) idx = to(idx, DType::Int64);
    idx = where(lt(idx, 0), add(idx, n), idx);
  }
  // A row lookup in a float matrix is an embedding (its gradient scatters rows).
  if (axis == 0 && x.dim() == 2 && x.is_floating_point()) return {embedding(x, idx)};
  return {index_dim(x, axis, idx)};
}

// ONNX's Expand: numpy broadcasting of x's sizes with the target's (sizes of 1 in
// either give way; the expand op's shape rule unifies two symbols that must agree).
static SymShape broadcast_shapes(const SymShape& a, const SymShape& b) {
  SymShape out(std::max(a.size(), b.size()), 1);
  for (size_t i = 0; i < out.size(); ++i) {
    const SymInt da = i < out.size() - a.size() ? SymInt(1) : a[i - (out.size() - a.size())];
    const SymInt db = i < out.size() - b.size() ? SymInt(1) : b[i - (out.size() - b.size())];
    AG_CHECK(da.hint == db.hint || da.hint == 1 || db.hint == 1, "shapes {} and {} do not broadcast", sym_shape_str(a),
             sym_shape_str(b));
    out[i] = !db.is_symbolic() && db.hint == 1 ? da : db;
  }
  return out;
}

TensorList convert_expand(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  return {expand(x, broadcast_shapes(x.sym_sizes(), ctx.sym_ints(1, "shape")))};
}

TensorList convert_tile(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  std::vector<int64_t> reps = ctx.ints(1, "repeats");
  AG_CHECK(static_cast<int64_t>(reps.size()) == x.dim(), "Tile: {} repeats for {}", reps.size(), x.describe());
  // x viewed as [1, d0, 1, d1, …], expanded to [r0, d0, r1, d1, …], flattened pairwise.
  Shape inter, expanded, out;
  for (int64_t d = 0; d < x.dim(); ++d) {
    AG_CHECK(reps[static_cast<size_t>(d)] >= 0, "Tile: negative repeat {}", reps[static_cast<size_t>(d)]);
    inter.insert(inter.end(), {1, x.size(d)});
    expanded.insert(expanded.end(), {reps[static_cast<size_t>(d)], x.size(d)});
    out.push_back(reps[static_cast<size_t>(d)] * x.size(d));
  }
  return {reshape(expand(reshape(x, inter), expanded), out)};
}

TensorList convert_range(NodeContext& ctx) {
  const Tensor& s = ctx.in(0);
  const double start = ctx.scalar(0, "start"), limit = ctx.scalar(1, "limit"), delta = ctx.scalar(2, "delta");
  AG_CHECK(delta != 0, "Range: delta is 0");
  const double count = std::max(0.0, std::ceil((limit - start) / delta));
  AG_CHECK(count <= 1e9, "Range: {} elements is too many", count);
  std::vector<double> v;
  for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) v.push_back(start + static_cast<double>(i) * delta);
  return {to(Tensor::from_vector<double>(v, {static_cast<int64_t>(v.size())}), s.dtype())};
}

TensorList convert_trilu(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  AG_CHECK(x.dim() >= 2, "Trilu needs a tensor of rank 2 or more, got {}", x.describe());
  const int64_t k = ctx.has(1) ? static_cast<int64_t>(ctx.scalar(1, "k")) : 0;
  const bool upper = ctx.attr_int("upper", 1) != 0;
  // The kept triangle as a constant mask over the last two dims.
  Tensor mask;
  {
    StaticScope constant;
    Tensor ones_hw = ones({x.size(-2), x.size(-1)}, DType::Float64);
    mask = upper ? ne(triu(ones_hw, k), 0) : eq(triu(ones_hw, k + 1), 0);
  }
  return {where(mask, x, zeros({}, x.dtype()))};
}

TensorList convert_scatter_nd(NodeContext& ctx) {
  const Tensor& data = ctx.in(0);
  Tensor idx = ctx.in(1);
  const Tensor& updates = ctx.in(2);
  const std::string reduction = ctx.attr_string("reduction", "none");
  if (reduction != "none" && reduction != "add") ctx.unsupported("ScatterND reduction '{}'", reduction);
  AG_CHECK(idx.dim() >= 1 && idx.size(-1) <= data.dim(), "ScatterND: indices {} do not index data {}", idx.describe(),
           data.describe());
  TensorList per_dim;
  std::optional<StaticScope> constant;  // indices from constants stay constants
  if (ctx.is_static(1)) constant.emplace();
  for (int64_t j = 0; j < idx.size(-1); ++j) {
    Tensor i = select(idx, -1, j);
    per_dim.push_back(where(lt(i, 0), add(i, data.size(j)), i));
  }
  constant.reset();
  return {index_put(data, per_dim, updates, reduction == "add")};
}

Tensor pad_constant(const Tensor& x, const std::vector<int64_t>& before, const std::vector<int64_t>& after,
                    double value) {
  return pad_constant(x, before, after, full({}, value, x.dtype()));
}

Tensor pad_constant(const Tensor& x, const std::vector<int64_t>& before, const std::vector<int64_t>& after,
                    const Tensor& value) {
  const Tensor fill = reshape(value, Shape(static_cast<size_t>(x.dim()), 1));
  Tensor y = x;
  for (int64_t d = 0; d < y.dim(); ++d) {
    const int64_t b = before[static_cast<size_t>(d)], a = after[static_cast<size_t>(d)];
    if (b < 0 || a < 0) {
      // Checked before negating: -INT64_MIN does not exist (a fuzzed file's pads).
      AG_CHECK(b >= -y.size(d) && a >= -y.size(d), "Pad: negative pads {} and {} remove more than axis {} holds ({})",
               b, a, d, y.size(d));
      const int64_t start = std::max<int64_t>(0, -b), stop = y.size(d) - std::max<int64_t>(0, -a);
      AG_CHECK(stop >= start, "Pad: negative pads remove more than axis {} holds", d);
      y = slice(y, d, start, stop);
    }
    TensorList parts;
    Shape side = y.sizes();
    if (b > 0) {
      side[static_cast<size_t>(d)] = b;
      parts.push_back(expand(fill, side));
    }
    parts.push_back(y);
    if (a > 0) {
      side[static_cast<size_t>(d)] = a;
      parts.push_back(expand(fill, side));
    }
    if (parts.size() > 1) y = cat(parts, d);
  }
  return y.is_same(x) ? clone(x) : y;
}

TensorList convert_pad(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  const std::string mode = ctx.attr_string("mode", "constant");
  std::vector<int64_t> pads;
  Tensor value;  // the constant mode's fill: a scalar, or a one-element tensor the model computes
  if (ctx.opset < 11) {
    pads = ctx.attr_ints("pads").value_or(std::vector<int64_t>{});
    value = full({}, ctx.attr_float("value", 0), x.dtype());
  } else {
    pads = ctx.ints(1, "pads");
    if (ctx.has(2) && ctx.is_static(2))
      value = full({}, ctx.scalar(2, "constant_value"), x.dtype());
    else if (ctx.has(2))
      value = ctx.in(2);
    else
      value = full({}, 0.0, x.dtype());
  }
  const auto rank = static_cast<size_t>(x.dim());
  AG_CHECK(pads.size() == 2 * rank, "Pad: {} pads for {} (expected {})", pads.size(), x.describe(), 2 * rank);
  std::vector<int64_t> before(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(rank));
  std::vector<int64_t> after(pads.begin() + static_cast<std::ptrdiff_t>(rank), pads.end());
  if (mode == "constant") return {pad_constant(x, before, after, value)};
  if (mode != "reflect" && mode != "edge") ctx.unsupported("Pad mode '{}' (expected constant, reflect or edge)", mode);
  // reflect and edge: each padded axis is one gather with a constant index list.
  Tensor y = x;
  for (int64_t d = 0; d < y.dim(); ++d) {
    const int64_t b = before[static_cast<size_t>(d)], a = after[static_cast<size_t>(d)], n = y.size(d);
    if (b == 0 && a == 0) continue;
    AG_CHECK(b >= 0 && a >= 0, "Pad: negative pads in mode '{}'", mode);
    AG_CHECK(mode == "edge" || (b < n && a < n), "Pad: reflect pads {}, {} need more than {} elements on axis {}", b, a,
             n, d);
    std::vector<int64_t> idx;
    for (int64_t i = -b; i < n + a; ++i) {
      if (mode == "edge") {
        idx.push_back(std::clamp<int64_t>(i, 0, n - 1));
      } else {
        idx.push_back(i < 0 ? -i : (i >= n ? 2 * (n - 1) - i : i));
      }
    }
    y = index_dim(y, d, int_tensor(idx));
  }
  return {y};
}

// Channels to space: [N, C, H, W] -> [N, C/b², H b, W b]; DCR takes the blocks from the
// leading channel groups, CRD from the trailing ones.
TensorList convert_depth_to_space(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t b = ctx.attr_int("blocksize", 0);
  AG_CHECK(x.dim() == 4 && b > 0 && x.size(1) % (b * b) == 0, "DepthToSpace: blocksize {} does not divide {}", b,
           x.describe());
  const int64_t n = x.size(0), c = x.size(1) / (b * b), h = x.size(2), w = x.size(3);
  const std::string mode = ctx.attr_string("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") ctx.unsupported("DepthToSpace mode '{}'", mode);
  Tensor y = mode == "DCR" ? permute(reshape(x, {n, b, b, c, h, w}), {0, 3, 4, 1, 5, 2})
                           : permute(reshape(x, {n, c, b, b, h, w}), {0, 1, 4, 2, 5, 3});
  return {reshape(y, {n, c, h * b, w * b})};
}

TensorList convert_space_to_depth(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t b = ctx.attr_int("blocksize", 0);
  AG_CHECK(x.dim() == 4 && b > 0 && x.size(2) % b == 0 && x.size(3) % b == 0,
           "SpaceToDepth: blocksize {} does not divide {}", b, x.describe());
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2) / b, w = x.size(3) / b;
  Tensor y = permute(reshape(x, {n, c, h, b, w, b}), {0, 3, 5, 1, 2, 4});
  return {reshape(y, {n, c * b * b, h, w})};
}

}  // namespace aotgrad::onnx_io
