// Shape rules of 2-d pooling.
#include "ops/families.h"
#include "ops/shape/pool_params.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

PoolParams pool_params(const IValue& k, const IValue& s, const IValue& p, const IValue* d, bool ceil,
                       std::string_view op) {
  auto two = [&](const IValue& v, std::string_view arg) {
    IntList l = v.to_int_list();
    if (l.size() == 1) l.push_back(l[0]);
    AG_CHECK(l.size() == 2, "{}: expected {} to have 2 values, but got {}", op, arg, shape_str(l));
    return l;
  };
  IntList kk = two(k, "kernel_size");
  IntList ss = s.to_int_list().empty() ? kk : two(s, "stride");
  IntList pp = two(p, "padding");
  IntList dd = d ? two(*d, "dilation") : IntList{1, 1};
  for (int i = 0; i < 2; ++i) {
    AG_CHECK(kk[i] > 0 && ss[i] > 0 && dd[i] > 0, "{}: kernel_size, stride and dilation must be positive", op);
    AG_CHECK(pp[i] >= 0 && pp[i] * 2 <= kk[i], "{}: padding {} should be at most half of kernel_size {}", op,
             shape_str(pp), shape_str(kk));
  }
  return {kk[0], kk[1], ss[0], ss[1], pp[0], pp[1], dd[0], dd[1], ceil};
}

Shape pool_out_shape(const Tensor& x, const PoolParams& p, std::string_view op) {
  AG_CHECK(x.dim() == 3 || x.dim() == 4, "{}: expected a 3-d or 4-d input, but got {}", op, x.describe());
  Shape out = x.sizes();
  const int64_t h = out[out.size() - 2], w = out[out.size() - 1];
  out[out.size() - 2] = conv_out_size(h, p.kh, p.sh, p.ph, p.dh, p.ceil);
  out[out.size() - 1] = conv_out_size(w, p.kw, p.sw, p.pw, p.dw, p.ceil);
  AG_CHECK(out[out.size() - 2] > 0 && out[out.size() - 1] > 0,
           "{}: the output would be empty: input {} is smaller than the kernel", op, x.describe());
  return out;
}

void register_pool_shapes(Registry& r) {
  r.shape(OpId::max_pool2d_with_indices, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    PoolParams p = pool_params(a[1], a[2], a[3], &a[4], a[5].to_bool(), "max_pool2d");
    Shape out = pool_out_shape(x, p, "max_pool2d");
    return Outputs{meta(out, x.dtype()), meta(out, DType::Int64)};
  });
  r.shape(OpId::max_pool2d_with_indices_backward, [](const Args& a) {
    const Tensor& x = a[1].to_tensor();
    return single(meta(x.sizes(), x.dtype()));
  });
  r.shape(OpId::avg_pool2d, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    check_floating(x, "avg_pool2d", "self");
    PoolParams p = pool_params(a[1], a[2], a[3], nullptr, a[4].to_bool(), "avg_pool2d");
    return single(meta(pool_out_shape(x, p, "avg_pool2d"), x.dtype()));
  });
  r.shape(OpId::avg_pool2d_backward, [](const Args& a) {
    const Tensor& x = a[1].to_tensor();
    return single(meta(x.sizes(), x.dtype()));
  });
  r.shape(OpId::_adaptive_avg_pool2d, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    AG_CHECK(x.dim() == 3 || x.dim() == 4, "adaptive_avg_pool2d: expected a 3-d or 4-d input, but got {}",
             x.describe());
    IntList os = a[1].to_int_list();
    if (os.size() == 1) os.push_back(os[0]);
    AG_CHECK(os.size() == 2 && os[0] > 0 && os[1] > 0,
             "adaptive_avg_pool2d: expected output_size of two positive ints, but got {}", shape_str(os));
    Shape out = x.sizes();
    out[out.size() - 2] = os[0];
    out[out.size() - 1] = os[1];
    return single(meta(out, x.dtype()));
  });
  r.shape(OpId::_adaptive_avg_pool2d_backward, [](const Args& a) {
    const Tensor& x = a[1].to_tensor();
    return single(meta(x.sizes(), x.dtype()));
  });
}

}  // namespace aotgrad::ops
