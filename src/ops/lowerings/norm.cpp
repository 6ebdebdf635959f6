// Lowerings of addmm, the MSE loss and layer norm (and its backward) to prims plus
// mm. Batch norm's are in batch_norm.cpp.
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

// Layer norm's elementwise affine: y * w + b, w and b broadcast to y.
Tensor affine(Tensor y, const IValue& w, const IValue& b, const Shape& shape) {
  if (w.is_tensor()) y = prims::mul(y, bcast(w.to_tensor(), shape));
  if (b.is_tensor()) y = prims::add(y, bcast(b.to_tensor(), shape));
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
    Tensor out = affine(y, a[2], a[3], x.sizes());
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
  register_batch_norm_lowerings(r);
}

}  // namespace aotgrad::ops
