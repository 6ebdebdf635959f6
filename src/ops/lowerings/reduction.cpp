// Lowerings of the reduction family (sums, means, variance, amax, softmax) to prims.
#include "ops/lowerings/lower.h"

namespace aotgrad::ops {

using namespace lower;

namespace {
std::vector<bool> mask_for(const Tensor& x, const IValue& dims, const char* op) {
  return reduction_mask(dims.is_none() ? IntList{} : dims.to_int_list(), x.dim(), op);
}

// prims.<reduce> over `mask`, with keepdim handled by broadcasting back.
Tensor reduce(Tensor (*prim)(const Tensor&, const IntList&), const Tensor& x, const std::vector<bool>& mask,
              bool keepdim) {
  Tensor r = prim(x, dims_of(mask));
  return keepdim ? keep_dims(r, x.sizes(), mask) : r;
}

double count(const Tensor& x, const std::vector<bool>& mask) {
  double n = 1;
  for (size_t i = 0; i < mask.size(); ++i)
    if (mask[i]) n *= static_cast<double>(x.size(static_cast<int64_t>(i)));
  return n;
}

std::vector<bool> one_dim(const Tensor& x, int64_t dim, const char* op) {
  std::vector<bool> m(x.dim(), false);
  if (x.dim() > 0) m[normalize_dim(dim, x.dim(), op)] = true;
  return m;
}

Tensor sum_over(const Tensor& x, const std::vector<bool>& m) {
  return prims::sum(x, dims_of(m));
}
}  // namespace

void register_reduction_lowerings(Registry& r) {
  r.decomposition(OpId::sum, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    return single(prims::sum(to_type(x, out_dtype(OpId::sum, a)), {}));
  });
  r.decomposition(OpId::sum_dim_IntList, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    Tensor xt = to_type(x, out_dtype(OpId::sum_dim_IntList, a));
    return single(reduce(prims::sum, xt, mask_for(x, a[1], "sum"), a[2].to_bool()));
  });
  r.decomposition(OpId::mean, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    return single(prims::div(prims::sum(x, {}), static_cast<double>(x.numel())));
  });
  r.decomposition(OpId::mean_dim, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    auto mask = mask_for(x, a[1], "mean");
    Tensor m = prims::div(prims::sum(x, dims_of(mask)), count(x, mask));
    return single(a[2].to_bool() ? keep_dims(m, x.sizes(), mask) : m);
  });
  r.decomposition(OpId::var_correction, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    auto mask = mask_for(x, a[1], "var");
    const double corr = a[2].is_none() ? 1.0 : a[2].to_scalar().to_double();
    Tensor v = prims::var(x, dims_of(mask), corr);
    return single(a[3].to_bool() ? keep_dims(v, x.sizes(), mask) : v);
  });
  r.decomposition(OpId::amax, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    return single(reduce(prims::amax, x, mask_for(x, a[1], "amax"), a[2].to_bool()));
  });
  r.decomposition(OpId::_softmax, [](const Args& a) {  // exp(x - max) / sum(exp(x - max))
    const Tensor& x = a[0].to_tensor();
    auto m = one_dim(x, a[1].to_int(), "softmax");
    Tensor shifted = prims::sub(x, unreduce(prims::amax(x, dims_of(m)), x.sizes(), m));
    Tensor e = prims::exp(shifted);
    return single(prims::div(e, unreduce(sum_over(e, m), x.sizes(), m)));
  });
  r.decomposition(OpId::_log_softmax, [](const Args& a) {  // (x - max) - log(sum(exp(x - max)))
    const Tensor& x = a[0].to_tensor();
    auto m = one_dim(x, a[1].to_int(), "log_softmax");
    Tensor shifted = prims::sub(x, unreduce(prims::amax(x, dims_of(m)), x.sizes(), m));
    Tensor lse = prims::log(sum_over(prims::exp(shifted), m));
    return single(prims::sub(shifted, unreduce(lse, x.sizes(), m)));
  });
  r.decomposition(OpId::_softmax_backward_data, [](const Args& a) {  // y * (g - sum(g * y))
    const Tensor &g = a[0].to_tensor(), &y = a[1].to_tensor();
    auto m = one_dim(y, a[2].to_int(), "softmax backward");
    Tensor gy = prims::mul(g, y);
    Tensor s = unreduce(sum_over(gy, m), y.sizes(), m);
    return single(prims::mul(y, prims::sub(g, s)));
  });
  r.decomposition(OpId::_log_softmax_backward_data, [](const Args& a) {  // g - exp(y) * sum(g)
    const Tensor &g = a[0].to_tensor(), &y = a[1].to_tensor();
    auto m = one_dim(y, a[2].to_int(), "log_softmax backward");
    Tensor s = unreduce(sum_over(g, m), y.sizes(), m);
    Tensor p = prims::exp(y);
    return single(prims::sub(g, prims::mul(p, s)));
  });
}

}  // namespace aotgrad::ops
