// Lowerings of addmm, the MSE loss and the normalisations (layer norm, batch norm
// and their backwards) to prims plus mm.
#include "ops/lowerings/lower.h"

namespace aotgrad::ops {

using namespace lower;

namespace {
// Normalisation statistics over `mask`: the mean and 1/sqrt(var + eps), both reduced.
std::pair<Tensor, Tensor> moments(const Tensor& x, const std::vector<bool>& mask, double eps) {
  double n = 1;
  for (size_t i = 0; i < mask.size(); ++i)
    if (mask[i]) n *= static_cast<double>(x.size(static_cast<int64_t>(i)));
  Tensor mean = prims::div(prims::sum(x, dims_of(mask)), n);
  Tensor var = prims::var(x, dims_of(mask), 0.0);
  return {mean, prims::rsqrt(prims::add(var, eps))};
}

// Per-channel vector (dim 1 of x) broadcast to x.
Tensor per_channel(const Tensor& v, const Shape& shape) {
  return prims::broadcast_in_dim(v, shape, {1});
}

std::vector<bool> all_but_channel(int64_t ndim) {
  std::vector<bool> m(ndim, true);
  m[1] = false;
  return m;
}

double channel_count(const Tensor& x) {
  return static_cast<double>(x.numel() / std::max<int64_t>(x.size(1), 1));
}

Tensor affine(Tensor y, const IValue& w, const IValue& b, const Shape& shape, bool channel) {
  auto spread = [&](const Tensor& v) { return channel ? per_channel(v, shape) : bcast(v, shape); };
  if (w.is_tensor()) y = prims::mul(y, spread(w.to_tensor()));
  if (b.is_tensor()) y = prims::add(y, spread(b.to_tensor()));
  return y;
}
// PyTorch's addmm decomposition, node for node: out = alpha * (mat1 @ mat2), then
// out + beta * self (out first: the result takes mm's contiguous layout). Alpha and
// beta are multiplied even when 1, as there, and are floats for a float result.
Outputs addmm_lowering(const Args& a) {
  Tensor prod = mm(a[1].to_tensor(), a[2].to_tensor());
  auto number = [&](const IValue& v) {
    return is_floating(prod.dtype()) ? IValue(v.to_scalar().to_double()) : IValue(v.to_scalar().to_int());
  };
  Tensor out = prims::mul(prod, number(a[4]));
  if (a[3].to_scalar().to_double() == 0) return single(out);
  Tensor scaled_self = prims::mul(to_type(a[0].to_tensor(), prod.dtype()), number(a[3]));
  return single(prims::add(out, bcast(scaled_self, out.sizes())));
}
}  // namespace

void register_norm_lowerings(Registry& r) {
  r.decomposition(OpId::addmm, addmm_lowering);
  r.decomposition(OpId::mse_loss, [](const Args& a) {
    const Tensor &x = a[0].to_tensor(), &t = a[1].to_tensor();
    Tensor d = prims::sub(x, bcast(t, x.sizes()));
    Tensor sq = prims::mul(d, d);
    switch (a[2].to_int()) {
      case 0:
        return single(sq);
      case 2:
        return single(prims::sum(sq, {}));
      default:
        return single(prims::div(prims::sum(sq, {}), static_cast<double>(x.numel())));
    }
  });
  r.decomposition(OpId::mse_loss_backward, [](const Args& a) {  // 2 (x - t) g [/ n]
    const Tensor &g = a[0].to_tensor(), &x = a[1].to_tensor(), &t = a[2].to_tensor();
    double scale = a[3].to_int() == 1 ? 2.0 / static_cast<double>(x.numel()) : 2.0;
    Tensor d = prims::sub(x, bcast(t, x.sizes()));
    Tensor gs = bcast(g, x.sizes());
    return single(prims::mul(prims::mul(d, scale), gs));
  });
  r.decomposition(OpId::native_layer_norm, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    const int64_t k = static_cast<int64_t>(a[1].to_int_list().size());
    std::vector<bool> mask(x.dim(), false);
    for (int64_t i = x.dim() - k; i < x.dim(); ++i) mask[i] = true;
    auto [mean, rstd] = moments(x, mask, a[4].to_double());
    Tensor centered = prims::sub(x, unreduce(mean, x.sizes(), mask));
    Tensor y = prims::mul(centered, unreduce(rstd, x.sizes(), mask));
    Tensor out = affine(y, a[2], a[3], x.sizes(), false);
    Tensor mean_kept = keep_dims(mean, x.sizes(), mask);
    Tensor rstd_kept = keep_dims(rstd, x.sizes(), mask);
    return Outputs{out, mean_kept, rstd_kept};
  });
  r.decomposition(OpId::native_layer_norm_backward, [](const Args& a) {
    const Tensor &g = a[0].to_tensor(), &x = a[1].to_tensor();
    const int64_t k = static_cast<int64_t>(a[2].to_int_list().size());
    const BoolList& need = a[7].to_bool_list();
    std::vector<bool> inner(x.dim(), false), outer(x.dim(), true);
    for (int64_t i = x.dim() - k; i < x.dim(); ++i) {
      inner[i] = true;
      outer[i] = false;
    }
    double n = 1;
    for (int64_t i = x.dim() - k; i < x.dim(); ++i) n *= static_cast<double>(x.size(i));
    Tensor mean = bcast(a[3].to_tensor(), x.sizes()), rstd = bcast(a[4].to_tensor(), x.sizes());
    Tensor x_hat = prims::mul(prims::sub(x, mean), rstd);
    Outputs out(3);
    if (need[0]) {
      // dx = rstd / n * (n * gw - sum(gw) - x_hat * sum(gw * x_hat)), gw = g * weight
      Tensor gw = a[5].is_tensor() ? prims::mul(g, bcast(a[5].to_tensor(), x.sizes())) : g;
      Tensor s1 = unreduce(prims::sum(gw, dims_of(inner)), x.sizes(), inner);
      Tensor s2 = unreduce(prims::sum(prims::mul(gw, x_hat), dims_of(inner)), x.sizes(), inner);
      Tensor inside = prims::sub(prims::sub(prims::mul(gw, n), s1), prims::mul(x_hat, s2));
      out[0] = prims::mul(prims::mul(rstd, 1.0 / n), inside);
    }
    if (need[1] && a[5].is_tensor()) out[1] = prims::sum(prims::mul(g, x_hat), dims_of(outer));
    if (need[2] && a[6].is_tensor()) out[2] = prims::sum(g, dims_of(outer));
    for (auto& o : out)
      if (o.is_none()) o = IValue(Tensor());
    return out;
  });
  r.decomposition(OpId::_native_batch_norm_legit_functional, [](const Args& a) {
    // Training: batch statistics, the normalised output and the momentum update of
    // the running statistics (unbiased variance). Not training: the running
    // statistics normalise, are returned unchanged and stand in for the saved ones.
    const Tensor& x = a[0].to_tensor();
    const auto mask = all_but_channel(x.dim());
    const double momentum = a[6].to_double(), n = channel_count(x);
    if (!a[5].to_bool()) {
      const Tensor &rm = a[3].to_tensor(), &rv = a[4].to_tensor();
      Tensor mean = to_type(rm, x.dtype());
      Tensor rstd = prims::rsqrt(prims::add(to_type(rv, x.dtype()), a[7].to_double()));
      Tensor y = prims::mul(prims::sub(x, per_channel(mean, x.sizes())), per_channel(rstd, x.sizes()));
      return Outputs{affine(y, a[1], a[2], x.sizes(), true), fresh(mean, rm), rstd, prims::clone(rm), prims::clone(rv)};
    }
    auto [mean, rstd] = moments(x, mask, a[7].to_double());
    Tensor y = prims::mul(prims::sub(x, per_channel(mean, x.sizes())), per_channel(rstd, x.sizes()));
    Tensor out = affine(y, a[1], a[2], x.sizes(), true);
    const Tensor &rm = a[3].to_tensor(), &rv = a[4].to_tensor();
    Tensor var_unbiased = prims::var(x, dims_of(mask), n > 1 ? 1.0 : 0.0);
    Tensor new_mean = prims::add(prims::mul(rm, 1 - momentum), prims::mul(to_type(mean, rm.dtype()), momentum));
    Tensor new_var = prims::add(prims::mul(rv, 1 - momentum), prims::mul(to_type(var_unbiased, rv.dtype()), momentum));
    return Outputs{out, mean, rstd, new_mean, new_var};
  });
  r.decomposition(OpId::_native_batch_norm_legit_no_training, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    const Tensor &rm = a[3].to_tensor(), &rv = a[4].to_tensor();
    Tensor rstd = prims::rsqrt(prims::add(to_type(rv, x.dtype()), a[6].to_double()));
    Tensor centered = prims::sub(x, per_channel(to_type(rm, x.dtype()), x.sizes()));
    Tensor y = prims::mul(centered, per_channel(rstd, x.sizes()));
    Tensor empty = prims::full({0}, 0, x.dtype());
    Tensor empty2 = prims::full({0}, 0, x.dtype());
    return Outputs{affine(y, a[1], a[2], x.sizes(), true), empty, empty2};
  });
  r.decomposition(OpId::native_batch_norm_backward, [](const Args& a) {
    const Tensor &g = a[0].to_tensor(), &x = a[1].to_tensor();
    const bool train = a[7].to_bool();
    const BoolList& need = a[9].to_bool_list();
    const auto mask = all_but_channel(x.dim());
    const double n = channel_count(x);
    Tensor mean, rstd;
    if (train) {
      mean = a[5].to_tensor();
      rstd = a[6].to_tensor();
    } else {
      mean = to_type(a[3].to_tensor(), x.dtype());
      rstd = prims::rsqrt(prims::add(to_type(a[4].to_tensor(), x.dtype()), a[8].to_double()));
    }
    Tensor centered = prims::sub(x, per_channel(mean, x.sizes()));
    Tensor sum_g = prims::sum(g, dims_of(mask));
    Tensor sum_gx = prims::sum(prims::mul(g, centered), dims_of(mask));
    Outputs out(3, IValue(Tensor()));
    if (need[0]) {
      Tensor scale = a[2].is_tensor() ? prims::mul(rstd, a[2].to_tensor()) : rstd;
      if (train) {
        // (g - mean(g) - centered * sum_gx * rstd^2 / n) * rstd * w
        Tensor k = prims::mul(prims::mul(prims::mul(sum_gx, rstd), rstd), 1.0 / n);
        Tensor gm = prims::mul(sum_g, 1.0 / n);
        Tensor inner =
            prims::sub(prims::sub(g, per_channel(gm, x.sizes())), prims::mul(centered, per_channel(k, x.sizes())));
        out[0] = prims::mul(inner, per_channel(scale, x.sizes()));
      } else {
        out[0] = prims::mul(g, per_channel(scale, x.sizes()));
      }
    }
    if (need[1]) out[1] = prims::mul(sum_gx, rstd);
    if (need[2]) out[2] = sum_g;
    return out;
  });
}

}  // namespace aotgrad::ops
