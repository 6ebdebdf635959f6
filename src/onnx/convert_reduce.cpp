// Reductions, softmax and the losses.
#include <algorithm>
#include <numeric>

#include "onnx/convert.h"

namespace aotgrad::onnx_io {

// The reduced axes, sorted and non-negative; all of them when none are given.
static IntList reduce_axes(NodeContext& ctx, const Tensor& x, bool* noop) {
  // ReduceSum takes its axes as an input from opset 13; the others until opset 18.
  const int64_t input_since = ctx.node.op_type == "ReduceSum" ? 13 : 18;
  std::optional<std::vector<int64_t>> given = ctx.attr_or_input_ints("axes", 1, input_since);
  *noop = false;
  IntList axes;
  if (given && !given->empty()) {
    for (int64_t a : *given) axes.push_back(normalize_axis(a, x.dim(), "reduction axis"));
    std::sort(axes.begin(), axes.end());
    AG_CHECK(std::adjacent_find(axes.begin(), axes.end()) == axes.end(), "reduction axes repeat an axis");
  } else {
    *noop = ctx.attr_int("noop_with_empty_axes", 0) != 0;
    axes.resize(static_cast<size_t>(x.dim()));
    std::iota(axes.begin(), axes.end(), 0);
  }
  return axes;
}

// The product over `axes` as a chain of multiplies along each axis: exact, and its
// gradient (the product of the others) needs no division, so zeros are handled.
static Tensor product(Tensor x, const IntList& axes, bool keepdim) {
  for (auto it = axes.rbegin(); it != axes.rend(); ++it) {
    const int64_t d = *it;
    Tensor acc = select(x, d, 0);
    for (int64_t k = 1; k < x.size(d); ++k) acc = mul(acc, select(x, d, k));
    if (x.size(d) == 0) acc = ones_like(select(zeros(x.sizes(), x.dtype()), d, 0));
    x = keepdim ? unsqueeze(acc, d) : acc;
  }
  return x;
}

TensorList convert_reduce(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  const std::string& op = ctx.node.op_type;
  bool noop = false;
  IntList axes = reduce_axes(ctx, x, &noop);
  if (noop) return {clone(x)};
  const bool keep = ctx.attr_int("keepdims", 1) != 0;
  if (x.dim() == 0) return {clone(x)};
  if (op == "ReduceSum") return {sum(x, axes, keep)};
  if (op == "ReduceMean") return {mean(x, axes, keep)};
  if (op == "ReduceMax") return {amax(x, axes, keep)};
  if (op == "ReduceMin") return {amin(x, axes, keep)};
  if (op == "ReduceProd") return {product(x, axes, keep)};
  if (op == "ReduceL1") return {sum(abs(x), axes, keep)};
  if (op == "ReduceL2") return {sqrt(sum(mul(x, x), axes, keep))};
  if (op == "ReduceSumSquare") return {sum(mul(x, x), axes, keep)};
  if (op == "ReduceLogSum") return {log(sum(x, axes, keep))};
  if (op == "ReduceLogSumExp") return {log(sum(exp(x), axes, keep))};
  AG_INTERNAL_CHECK(false, "convert_reduce: no case for {}", op);
  return {};
}

TensorList convert_arg_reduce(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t axis = normalize_axis(ctx.attr_int("axis", 0), x.dim(), "axis");
  const bool keep = ctx.attr_int("keepdims", 1) != 0;
  Tensor v = ctx.node.op_type == "ArgMin" ? neg(x) : x;
  if (ctx.attr_int("select_last_index", 0) == 0) return {argmax(v, axis, keep)};
  // The last extreme: the first one of the reversed axis, counted back from the end.
  const int64_t n = x.size(axis);
  std::vector<int64_t> reversed(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) reversed[static_cast<size_t>(i)] = n - 1 - i;
  TensorList indices(static_cast<size_t>(axis));
  indices.push_back(Tensor::from_vector<int64_t>(reversed, {n}));
  return {rsub(argmax(index(v, indices), axis, keep), n - 1)};
}

// Before opset 13, softmax views its input as 2-D ([prod(dims < axis), rest]) and
// normalises each row; from 13 on it normalises along the one axis.
TensorList convert_softmax(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  const bool log_space = ctx.node.op_type == "LogSoftmax";
  if (ctx.opset >= 13) {
    const int64_t axis = normalize_axis(ctx.attr_int("axis", -1), x.dim(), "axis");
    return {log_space ? log_softmax(x, axis) : softmax(x, axis)};
  }
  const int64_t axis = normalize_axis(ctx.attr_int("axis", 1), std::max<int64_t>(x.dim(), 1), "axis");
  int64_t rows = 1;
  for (int64_t d = 0; d < axis; ++d) rows *= x.size(d);
  Tensor flat = reshape(x, {rows, -1});
  Tensor y = log_space ? log_softmax(flat, 1) : softmax(flat, 1);
  return {reshape(y, x.sizes())};
}

// 1 at the (first) maximum along the axis, 0 elsewhere; before opset 13 over the
// input viewed as 2-D, as Softmax.
TensorList convert_hardmax(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  auto one_hot_max = [](const Tensor& t, int64_t axis) {
    Shape along(static_cast<size_t>(t.dim()), 1);
    along[static_cast<size_t>(axis)] = t.size(axis);
    std::vector<int64_t> ids(static_cast<size_t>(t.size(axis)));
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>(i);
    return to(eq(argmax(t, axis, true), Tensor::from_vector<int64_t>(ids, along)), t.dtype());
  };
  if (ctx.opset >= 13) return {one_hot_max(x, normalize_axis(ctx.attr_int("axis", -1), x.dim(), "axis"))};
  const int64_t axis = normalize_axis(ctx.attr_int("axis", 1), std::max<int64_t>(x.dim(), 1), "axis");
  int64_t rows = 1;
  for (int64_t d = 0; d < axis; ++d) rows *= x.size(d);
  return {reshape(one_hot_max(reshape(x, {rows, -1}), 1), x.sizes())};
}

// (x - mean) / (std + 1e-9) over `axes` (default N, H, W), as ONNX's function body.
TensorList convert_mean_variance_normalization(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  IntList axes;
  for (int64_t a : ctx.attr_ints("axes").value_or(std::vector<int64_t>{0, 2, 3}))
    axes.push_back(normalize_axis(a, x.dim(), "axes"));
  Tensor centered = sub(x, mean(x, axes, true));
  Tensor std_ = sqrt(mean(mul(centered, centered), axes, true));
  return {div(centered, add(std_, 1e-9))};
}

static int64_t reduction_code(NodeContext& ctx) {
  const std::string r = ctx.attr_string("reduction", "mean");
  if (r == "none") return 0;
  if (r == "mean") return 1;
  if (r == "sum") return 2;
  ctx.unsupported("reduction '{}' (expected none, mean or sum)", r);
}

// The negative log-likelihood of log-probabilities [N, C, d1, …] at labels [N, d1, …]:
// the class axis moved last and the rest flattened into rows for nll_loss_forward.
static Tensor nll(NodeContext& ctx, const Tensor& log_prob, const Tensor& labels, const Tensor& weight) {
  AG_CHECK(log_prob.dim() >= 2, "the scores must be [N, C, ...], got {}", log_prob.describe());
  const int64_t reduction = reduction_code(ctx);
  const int64_t ignore = ctx.has_attr("ignore_index") ? ctx.attr_int("ignore_index", -100) : -100;
  Tensor target = labels.dtype() == DType::Int64 ? labels : to(labels, DType::Int64);
  Tensor rows = log_prob, flat_target = target;
  if (log_prob.dim() > 2) {
    IntList perm{0};
    for (int64_t d = 2; d < log_prob.dim(); ++d) perm.push_back(d);
    perm.push_back(1);
    rows = reshape(permute(log_prob, perm), {-1, log_prob.size(1)});
    flat_target = reshape(target, {-1});
  }
  Tensor loss;
  if (weight.defined() && weight.requires_grad()) {
    // Class weights the model trains or computes: aten's nll_loss treats the weight
    // as a constant, so the weighted loss is written out to differentiate it too.
    Tensor kept = ne(flat_target, ignore);
    Tensor safe = where(kept, flat_target, zeros({}, DType::Int64));
    Tensor row_ids =
        Tensor::from_vector<int64_t>(std::vector<int64_t>(static_cast<size_t>(rows.size(0))), {rows.size(0)});
    {
      std::vector<int64_t> ids(static_cast<size_t>(rows.size(0)));
      for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int64_t>(i);
      row_ids = Tensor::from_vector<int64_t>(ids, {rows.size(0)});
    }
    Tensor w = mul(index(weight, {safe}), to(kept, weight.dtype()));
    Tensor picked = neg(mul(index(rows, {row_ids, safe}), w));
    loss = reduction == 0 ? picked : reduction == 2 ? sum(picked) : div(sum(picked), sum(w));
  } else {
    loss = std::get<0>(nll_loss_forward(rows, flat_target, weight, reduction, ignore));
  }
  return reduction == 0 && log_prob.dim() > 2 ? reshape(loss, target.sizes()) : loss;
}

TensorList convert_cross_entropy(NodeContext& ctx) {
  const Tensor& scores = ctx.in(0);
  Tensor log_prob = log_softmax(scores, 1);
  Tensor weight = ctx.has(2) ? ctx.in(2) : Tensor();
  TensorList out{nll(ctx, log_prob, ctx.in(1), weight)};
  if (ctx.wants_output(1)) out.push_back(log_prob);
  return out;
}

TensorList convert_nll_loss(NodeContext& ctx) {
  Tensor weight = ctx.has(2) ? ctx.in(2) : Tensor();
  return {nll(ctx, ctx.in(0), ctx.in(1), weight)};
}

}  // namespace aotgrad::onnx_io
