// Products, convolutions, pooling and normalisation.
#include <cmath>
#include <limits>

#include "aotgrad/autograd.h"
#include "onnx/convert.h"

namespace aotgrad::onnx_io {

TensorList convert_gemm(NodeContext& ctx) {
  Tensor a = ctx.in(0), b = ctx.in(1);
  AG_CHECK(a.dim() == 2 && b.dim() == 2, "Gemm needs 2-D A and B, got {} and {}", a.describe(), b.describe());
  if (ctx.attr_int("transA", 0) != 0) a = t(a);
  if (ctx.attr_int("transB", 0) != 0) b = t(b);
  const double alpha = ctx.attr_float("alpha", 1.0), beta = ctx.attr_float("beta", 1.0);
  if (!ctx.has(2) || beta == 0) return {alpha == 1.0 ? mm(a, b) : mul(mm(a, b), alpha)};
  const Tensor& c = ctx.in(2);
  // nn.Linear's form (a bias row, or a full matrix): one addmm, as PyTorch records it.
  const bool row = c.dim() == 1 && c.size(0) == b.size(1);
  const bool full_matrix = c.dim() == 2 && c.size(0) == a.size(0) && c.size(1) == b.size(1);
  if (row || full_matrix) {
    if (alpha == 1.0 && beta == 1.0) return {addmm(c, a, b)};
    return {addmm(c, a, b, beta, alpha)};
  }
  Tensor prod = alpha == 1.0 ? mm(a, b) : mul(mm(a, b), alpha);
  return {add(prod, beta == 1.0 ? c : mul(c, beta))};
}

TensorList convert_matmul(NodeContext& ctx) {
  return {matmul(ctx.in(0), ctx.in(1))};
}

// The spatial geometry of a conv or pool: kernel, strides, dilations and the pads
// before and after each spatial axis, auto_pad resolved.
struct Window {
  IntList kernel, stride, dilation, pad_before, pad_after;
  bool symmetric() const { return pad_before == pad_after; }
  /// Whether aten's pools take these pads: the same on both sides, at most half the kernel.
  bool pool_pads_ok() const {
    for (size_t i = 0; i < kernel.size(); ++i)
      if (pad_before[i] > kernel[i] / 2) return false;
    return symmetric();
  }
  /// Pads `x` explicitly with `fill` (over the spatial axes) and clears the pads.
  Tensor pad_explicitly(const Tensor& x, const Tensor& fill) {
    std::vector<int64_t> before{0, 0}, after{0, 0};
    before.insert(before.end(), pad_before.begin(), pad_before.end());
    after.insert(after.end(), pad_after.begin(), pad_after.end());
    pad_before.assign(kernel.size(), 0);
    pad_after.assign(kernel.size(), 0);
    return pad_constant(x, before, after, fill);
  }
};

static Window window(NodeContext& ctx, const Tensor& x, const IntList& kernel) {
  const size_t n = kernel.size();
  Window w;
  w.kernel = kernel;
  w.stride = ctx.attr_ints("strides").value_or(IntList(n, 1));
  w.dilation = ctx.attr_ints("dilations").value_or(IntList(n, 1));
  AG_CHECK(w.stride.size() == n && w.dilation.size() == n, "strides / dilations must have {} entries", n);
  IntList pads = ctx.attr_ints("pads").value_or(IntList(2 * n, 0));
  AG_CHECK(pads.size() == 2 * n, "pads must have {} entries, got {}", 2 * n, pads.size());
  w.pad_before.assign(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(n));
  w.pad_after.assign(pads.begin() + static_cast<std::ptrdiff_t>(n), pads.end());
  const std::string auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  if (auto_pad == "VALID") {
    w.pad_before.assign(n, 0);
    w.pad_after.assign(n, 0);
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (size_t i = 0; i < n; ++i) {
      const int64_t in = x.size(static_cast<int64_t>(i) + 2), s = w.stride[i];
      const int64_t out = (in + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out - 1) * s + (kernel[i] - 1) * w.dilation[i] + 1 - in);
      const int64_t small = total / 2;
      w.pad_before[i] = auto_pad == "SAME_UPPER" ? small : total - small;
      w.pad_after[i] = total - w.pad_before[i];
    }
  } else if (auto_pad != "NOTSET") {
    ctx.unsupported("auto_pad '{}'", auto_pad);
  }
  return w;
}

// 1-D convs and pools run as 2-D ones over a height of 1: `op` gets the input and the
// window lifted to 2-D (for a 2-D window, as they are), and its result loses the height.
static IntList with_unit(const IntList& v, int64_t unit) {
  IntList out{unit};
  out.insert(out.end(), v.begin(), v.end());
  return out;
}
template <typename F>
Tensor on_2d(const Tensor& x, const Window& win, F&& op) {
  if (win.kernel.size() == 2) return op(x, win);
  Window lifted{with_unit(win.kernel, 1), with_unit(win.stride, 1), with_unit(win.dilation, 1),
                with_unit(win.pad_before, 0), with_unit(win.pad_after, 0)};
  return squeeze(op(unsqueeze(x, 2), lifted), 2);
}

// A pool's kernel_shape: required, 1-D or 2-D.
static IntList pool_kernel(NodeContext& ctx) {
  auto kernel = ctx.attr_ints("kernel_shape");
  AG_CHECK(kernel.has_value(), "{} needs kernel_shape", ctx.node.op_type);
  if (kernel->size() != 1 && kernel->size() != 2)
    ctx.unsupported("{} with {} spatial dimensions (1 and 2 are supported)", ctx.node.op_type, kernel->size());
  return *kernel;
}

TensorList convert_conv(NodeContext& ctx) {
  Tensor x = ctx.in(0), w = ctx.in(1);
  const int64_t spatial = w.dim() - 2;
  if (spatial != 1 && spatial != 2) ctx.unsupported("Conv with {} spatial dimensions (1 and 2 are supported)", spatial);
  IntList kernel(w.sizes().begin() + 2, w.sizes().end());
  if (auto k = ctx.attr_ints("kernel_shape"))
    AG_CHECK(*k == kernel, "kernel_shape {} does not match the weight {}", shape_str(*k), w.describe());
  Window win = window(ctx, x, kernel);
  if (!win.symmetric()) x = win.pad_explicitly(x, full({}, 0.0, x.dtype()));
  Tensor bias = ctx.has(2) ? ctx.in(2) : Tensor();
  const int64_t groups = ctx.attr_int("group", 1);
  Tensor w2 = spatial == 2 ? w : unsqueeze(w, 2);
  return {on_2d(x, win, [&](const Tensor& x2, const Window& v) {
    return convolution(x2, w2, bias, v.stride, v.pad_before, v.dilation, false, {0, 0}, groups);
  })};
}

TensorList convert_max_pool(NodeContext& ctx) {
  Tensor x = ctx.in(0);
  const IntList kernel = pool_kernel(ctx);
  if (ctx.wants_output(1)) ctx.unsupported("MaxPool's Indices output");
  if (ctx.attr_int("storage_order", 0) != 0) ctx.unsupported("storage_order=1");
  Window win = window(ctx, x, kernel);
  if (!win.pool_pads_ok()) x = win.pad_explicitly(x, full({}, -std::numeric_limits<double>::infinity(), x.dtype()));
  const bool ceil = ctx.attr_int("ceil_mode", 0) != 0;
  return {on_2d(x, win, [&](const Tensor& x2, const Window& v) {
    return std::get<0>(max_pool2d_with_indices(x2, v.kernel, v.stride, v.pad_before, v.dilation, ceil));
  })};
}

TensorList convert_average_pool(NodeContext& ctx) {
  Tensor x = ctx.in(0);
  Window win = window(ctx, x, pool_kernel(ctx));
  const bool include_pad = ctx.attr_int("count_include_pad", 0) != 0;
  const bool ceil = ctx.attr_int("ceil_mode", 0) != 0;
  auto pool = [&](const Tensor& input, const Window& w, bool count_pad) {
    return on_2d(input, w, [&](const Tensor& x2, const Window& v) {
      return avg_pool2d(x2, v.kernel, v.stride, v.pad_before, ceil, count_pad);
    });
  };
  if (win.pool_pads_ok()) return {pool(x, win, include_pad)};
  const Tensor zero = full({}, 0.0, x.dtype());
  if (include_pad) return {pool(win.pad_explicitly(x, zero), win, true)};
  // Pads aten cannot take, not counted: the mean of the padded input divided by the
  // fraction of each window that is input (a constant).
  Window counted = win;
  Tensor fraction;
  {
    StaticScope constant;
    Shape plane(x.sizes().begin() + 2, x.sizes().end());
    plane.insert(plane.begin(), {1, 1});
    fraction = pool(counted.pad_explicitly(ones(plane, x.dtype()), zero), counted, true);
  }
  return {div(pool(win.pad_explicitly(x, zero), win, true), fraction)};
}

TensorList convert_global_pool(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  IntList dims;
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  if (ctx.node.op_type == "GlobalMaxPool") return {amax(x, dims, true)};
  return {mean(x, dims, true)};
}

// BatchNormalization. Inference: the running statistics. Training (training_mode=1
// from opset 14): batch statistics, and the running statistics updated as the ONNX
// spec says — with the population variance (÷N), where PyTorch uses the unbiased one
// (÷(N−1)) — written back into the model's buffers when they are buffers.
TensorList convert_batch_norm(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor &scale = ctx.in(1), &bias = ctx.in(2), &mean_in = ctx.in(3), &var_in = ctx.in(4);
  const double eps = ctx.attr_float("epsilon", 1e-5), momentum = ctx.attr_float("momentum", 0.9);
  const bool file_training = ctx.opset >= 14 ? ctx.attr_int("training_mode", 0) != 0
                             : ctx.opset < 7 ? ctx.attr_int("is_test", 0) == 0 && ctx.wants_output(1)
                                             : ctx.wants_output(1);
  const bool training = file_training && ctx.module_training;
  if (ctx.opset < 9 && ctx.attr_int("spatial", 1) == 0) ctx.unsupported("spatial=0");
  AG_CHECK(x.dim() >= 2, "BatchNormalization needs [N, C, ...], got {}", x.describe());
  if (!training) {
    Tensor y;
    if (mean_in.requires_grad() || var_in.requires_grad()) {
      // Statistics the model computes or trains: written out, so they get gradients
      // too (aten's inference batch norm treats them as constants, as buffers are).
      Shape channel(static_cast<size_t>(x.dim()), 1);
      channel[1] = x.size(1);
      auto per_channel = [&](const Tensor& t) { return reshape(t, channel); };
      Tensor inv = rsqrt(add(per_channel(var_in), eps));
      y = add(mul(mul(sub(x, per_channel(mean_in)), inv), per_channel(scale)), per_channel(bias));
    } else {
      y = std::get<0>(_native_batch_norm_legit_no_training(x, scale, bias, mean_in, var_in, 0.1, eps));
    }
    TensorList out;    // (not out{y}: g++ 12 then warns, falsely, of an out-of-bounds copy)
    out.push_back(y);  // the running statistics pass through unchanged
    if (ctx.wants_output(1)) out.push_back(mean_in);
    if (ctx.wants_output(2)) out.push_back(var_in);
    return out;
  }
  if (ctx.opset < 14 && (ctx.wants_output(3) || ctx.wants_output(4)))
    ctx.unsupported("BatchNormalization's saved_mean / saved_var outputs");
  auto [y, saved_mean, saved_invstd, unused_mean, unused_var] =
      _native_batch_norm_legit_functional(x, scale, bias, mean_in, var_in, true, 1 - momentum, eps);
  // The batch statistics are the ones the normalisation computed: its mean, and the
  // population variance its 1/sqrt(var + eps) was made from (a second pass of mean and
  // var over x cost a sixth of mobilenet_v3_small's forward).
  autograd::NoGradGuard no_grad;
  Tensor invstd = detach(saved_invstd);
  Tensor batch_mean = detach(saved_mean), batch_var = sub(reciprocal(mul(invstd, invstd)), eps);
  Tensor new_mean = add(mul(mean_in, momentum), mul(batch_mean, 1 - momentum));
  Tensor new_var = add(mul(var_in, momentum), mul(batch_var, 1 - momentum));
  // Buffers take their new values (an in-place update the export turns into
  // InputMutationAOTOutputs); constants and graph inputs are left alone.
  if (ctx.is_buffer(3)) copy_(mean_in, new_mean);
  if (ctx.is_buffer(4)) copy_(var_in, new_var);
  TensorList out;
  out.push_back(y);
  if (ctx.wants_output(1)) out.push_back(new_mean);
  if (ctx.wants_output(2)) out.push_back(new_var);
  return out;
}

TensorList convert_layer_norm(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  const int64_t axis = normalize_axis(ctx.attr_int("axis", -1), x.dim(), "axis");
  IntList normalized(x.sizes().begin() + axis, x.sizes().end());
  Tensor weight = ctx.in(1);
  Tensor bias = ctx.has(2) ? ctx.in(2) : Tensor();
  if (weight.sizes() != normalized) weight = expand(weight, normalized);
  if (bias.defined() && bias.sizes() != normalized) bias = expand(bias, normalized);
  auto [y, mean_out, rstd] = native_layer_norm(x, normalized, weight, bias, ctx.attr_float("epsilon", 1e-5));
  TensorList out{y};
  if (ctx.wants_output(1)) out.push_back(mean_out);
  if (ctx.wants_output(2)) out.push_back(rstd);
  return out;
}

// (x - mean) / sqrt(var + eps) * scale + bias, the statistics per sample and channel.
TensorList convert_instance_norm(NodeContext& ctx) {
  const Tensor& x = ctx.in(0);
  AG_CHECK(x.dim() >= 3, "InstanceNormalization needs [N, C, D1, ...], got {}", x.describe());
  IntList dims;
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  Shape channel(static_cast<size_t>(x.dim()), 1);
  channel[1] = x.size(1);
  Tensor centered = sub(x, mean(x, dims, true));
  Tensor var_ = mean(mul(centered, centered), dims, true);
  Tensor normalized = div(centered, sqrt(add(var_, ctx.attr_float("epsilon", 1e-5))));
  return {add(mul(normalized, reshape(ctx.in(1), channel)), reshape(ctx.in(2), channel))};
}

}  // namespace aotgrad::onnx_io
