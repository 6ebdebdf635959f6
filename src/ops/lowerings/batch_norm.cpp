// Lowerings of batch norm and its backward to prims, node for node as PyTorch's
// decompositions write them (torch/_decomp/decompositions.py: native_batch_norm_helper
// and native_batch_norm_backward), so a decomposed graph reads like upstream's:
// keepdim statistics squeezed back one dim at a time, the running variance through
// the n/(n-1) rescale, and per-channel vectors given their size-1 dims one unsqueeze
// (a broadcast_in_dim) at a time.
#include "ops/lowerings/lower.h"

namespace aotgrad::ops {

using namespace lower;

namespace {
// x.unsqueeze(d): a broadcast_in_dim that adds a size-1 dim at d.
Tensor unsqueeze_at(const Tensor& x, int64_t d) {
  Shape shape = x.sizes();
  shape.insert(shape.begin() + d, 1);
  IntList dims;
  for (int64_t i = 0; i < x.dim(); ++i) dims.push_back(i < d ? i : i + 1);
  return prims::broadcast_in_dim(x, shape, dims);
}

// _unsqueeze_to_dim: size-1 dims appended until x has `ndim` dims ([C] -> [C, 1, 1]).
Tensor unsqueeze_to_dim(Tensor x, int64_t ndim) {
  while (x.dim() < ndim) x = unsqueeze_at(x, x.dim());
  return x;
}

// _broadcast_batch_norm_backward: a per-channel vector shaped [1, C, 1, ...] for an
// input of `ndim` dims (unsqueezed where the mask is 1 and x has no size-1 dim yet).
Tensor channel_shaped(Tensor x, int64_t ndim, int64_t channels) {
  for (int64_t axis = 0; axis < ndim; ++axis) {
    const int64_t mask = axis == 1 ? channels : 1;
    if (mask == 1 && !(axis < x.dim() && x.size(axis) == 1)) x = unsqueeze_at(x, axis);
  }
  return x;
}

// torch.squeeze(x, dims): one prims.squeeze per dim, the highest first.
Tensor squeeze_dims(Tensor x, const IntList& dims) {
  for (auto d = dims.rbegin(); d != dims.rend(); ++d) x = prims::squeeze(x, {*d});
  return x;
}

struct Layout {
  Shape shape;      // the input's
  IntList reduced;  // every dim but the channel dim (1)
  Shape kept;       // the statistics' keepdim shape, [1, C, 1, ...]
  double n = 1;     // elements per channel
};

Layout layout_of(const Tensor& x) {
  AG_CHECK(x.dim() >= 2, "batch norm: expected an input with a channel dim (at least 2 dims), got {}", x.describe());
  Layout l{x.sizes(), {}, x.sizes(), 1};
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d == 1) continue;
    l.reduced.push_back(d);
    l.kept[d] = 1;
    l.n *= static_cast<double>(x.size(d));
  }
  return l;
}

// output * weight + bias, each unsqueezed to the input's rank, then broadcast.
Tensor scale_and_shift(Tensor out, const IValue& weight, const IValue& bias) {
  const Shape shape = out.sizes();
  if (weight.is_tensor()) {
    Tensor w = bcast(unsqueeze_to_dim(weight.to_tensor(), out.dim() - 1), shape);
    out = prims::mul(out, w);
  }
  if (bias.is_tensor()) {
    Tensor b = bcast(unsqueeze_to_dim(bias.to_tensor(), out.dim() - 1), shape);
    out = prims::add(out, b);
  }
  return out;
}

// momentum * new + (1 - momentum) * running, in the running statistic's dtype.
Tensor momentum_update(const Tensor& batch_stat, const Tensor& running, double momentum) {
  Tensor scaled_batch = prims::mul(to_type(batch_stat, running.dtype()), momentum);
  Tensor scaled_running = prims::mul(running, 1 - momentum);
  return prims::add(scaled_batch, scaled_running);
}

// Normalised by the running statistics: (x - mean) * rsqrt(var + eps), scaled and shifted.
Tensor normalize_by_running_stats(const Tensor& x, const Tensor& mean, const Tensor& rstd, const IValue& weight,
                                  const IValue& bias) {
  Tensor centered = prims::sub(x, bcast(unsqueeze_to_dim(mean, x.dim() - 1), x.sizes()));
  Tensor y = prims::mul(centered, bcast(unsqueeze_to_dim(rstd, x.dim() - 1), x.sizes()));
  return scale_and_shift(y, weight, bias);
}

// Not training: the running statistics normalise, are returned unchanged (copies)
// and stand in for the saved statistics.
Outputs batch_norm_eval(const Args& a) {
  const Tensor& x = a[0].to_tensor();
  const Tensor &rm = a[3].to_tensor(), &rv = a[4].to_tensor();
  Tensor mean = to_type(rm, x.dtype());
  Tensor rstd = prims::rsqrt(prims::add(to_type(rv, x.dtype()), a[7].to_double()));
  Tensor out = normalize_by_running_stats(x, mean, rstd, a[1], a[2]);
  return Outputs{out, fresh(mean, rm), rstd, prims::clone(rm), prims::clone(rv)};
}

// _native_batch_norm_legit_no_training(input, weight, bias, running_mean, running_var,
// momentum, eps) -> (out, empty, empty): nothing is saved, as on PyTorch's CPU.
Outputs batch_norm_no_training_lowering(const Args& a) {
  const Tensor& x = a[0].to_tensor();
  Tensor mean = to_type(a[3].to_tensor(), x.dtype());
  Tensor rstd = prims::rsqrt(prims::add(to_type(a[4].to_tensor(), x.dtype()), a[6].to_double()));
  Tensor out = normalize_by_running_stats(x, mean, rstd, a[1], a[2]);
  Tensor empty_mean = prims::full({0}, 0, x.dtype());
  Tensor empty_rstd = prims::full({0}, 0, x.dtype());
  return Outputs{out, empty_mean, empty_rstd};
}

// _native_batch_norm_legit_functional(input, weight, bias, running_mean, running_var,
// training, momentum, eps) -> (out, save_mean, save_rstd, new_running_mean, new_running_var)
Outputs batch_norm_lowering(const Args& a) {
  if (!a[5].to_bool()) return batch_norm_eval(a);
  const Tensor& x = a[0].to_tensor();
  const Layout l = layout_of(x);
  const double momentum = a[6].to_double();
  // var_mean(x, reduced, correction=0, keepdim=True): the variance first, as there.
  Tensor biased_var = prims::broadcast_in_dim(prims::var(x, l.reduced, 0.0), l.kept, {1});
  Tensor sum_kept = prims::broadcast_in_dim(prims::sum(x, l.reduced), l.kept, {1});
  Tensor mean = prims::div(sum_kept, l.n);
  Tensor rstd = prims::rsqrt(prims::add(biased_var, a[7].to_double()));
  Tensor centered = prims::sub(x, bcast(mean, l.shape));  // one statement each: Note [Evaluation order]
  Tensor normalized = prims::mul(centered, bcast(rstd, l.shape));
  Tensor save_mean = squeeze_dims(mean, l.reduced);
  Tensor save_rstd = squeeze_dims(rstd, l.reduced);
  Tensor new_mean = momentum_update(save_mean, a[3].to_tensor(), momentum);
  // The running variance is unbiased: the biased one times n / (n - 1).
  Tensor var = squeeze_dims(biased_var, l.reduced);
  if (l.n > 1) var = prims::mul(var, l.n / (l.n - 1));
  Tensor new_var = momentum_update(var, a[4].to_tensor(), momentum);
  Tensor out = scale_and_shift(normalized, a[1], a[2]);
  return Outputs{out, save_mean, save_rstd, new_mean, new_var};
}

// native_batch_norm_backward(grad_out, input, weight, running_mean, running_var,
// save_mean, save_invstd, train, eps, output_mask) -> (grad_input, grad_weight, grad_bias)
Outputs batch_norm_backward_lowering(const Args& a) {
  const Tensor &g = a[0].to_tensor(), &x = a[1].to_tensor();
  const bool train = a[7].to_bool();
  const BoolList& need = a[9].to_bool_list();
  const Layout l = layout_of(x);
  const int64_t nd = x.dim(), channels = x.size(1);
  Tensor mean, invstd;
  if (train) {
    mean = a[5].to_tensor();
    invstd = a[6].to_tensor();
  } else {
    mean = to_type(a[3].to_tensor(), x.dtype());
    invstd = prims::rsqrt(prims::add(to_type(a[4].to_tensor(), x.dtype()), a[8].to_double()));
  }
  mean = channel_shaped(mean, nd, channels);
  const double norm = 1.0 / l.n;
  Tensor grad_output_sum = prims::sum(g, l.reduced);
  Tensor centered = prims::sub(x, bcast(mean, l.shape));
  Tensor dot_p = prims::sum(prims::mul(g, centered), l.reduced);
  Tensor grad_mean = channel_shaped(prims::mul(grad_output_sum, norm), nd, channels);
  Tensor dot_p_mean = prims::mul(dot_p, norm);
  Tensor invstd_sq = prims::mul(invstd, invstd);
  Tensor proj_scale = channel_shaped(prims::mul(dot_p_mean, invstd_sq), nd, channels);
  Tensor grad_scale = a[2].is_tensor() ? channel_shaped(prims::mul(invstd, a[2].to_tensor()), nd, channels)
                                       : prims::mul(channel_shaped(invstd, nd, channels), 1.0);
  Outputs out(3, IValue(Tensor()));
  if (need[0] && train) {  // ((g - (x - mean) * proj_scale) - grad_mean) * grad_scale
    Tensor centered_again = prims::sub(x, bcast(mean, l.shape));
    Tensor proj = prims::mul(centered_again, bcast(proj_scale, l.shape));
    Tensor less_proj = prims::sub(g, proj);
    Tensor less_mean = prims::sub(less_proj, bcast(grad_mean, l.shape));
    out[0] = prims::mul(less_mean, bcast(grad_scale, l.shape));
  } else if (need[0]) {
    out[0] = prims::mul(g, bcast(grad_scale, l.shape));
  }
  if (need[1]) out[1] = prims::mul(dot_p, invstd);
  if (need[2]) out[2] = grad_output_sum;
  return out;
}
}  // namespace

void register_batch_norm_lowerings(Registry& r) {
  r.decomposition(OpId::_native_batch_norm_legit_functional, batch_norm_lowering);
  r.decomposition(OpId::_native_batch_norm_legit_no_training, batch_norm_no_training_lowering);
  r.decomposition(OpId::native_batch_norm_backward, batch_norm_backward_lowering);
}

}  // namespace aotgrad::ops
