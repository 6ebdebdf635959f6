// Shape rules of 2-d convolution and its backward.
#include "ops/families.h"
#include "ops/shape/pool_params.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil, bool ceil) {
  int64_t span = in + 2 * pad - dil * (k - 1) - 1;
  int64_t out = (ceil ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil && (out - 1) * stride >= in + pad) --out;  // the last window must start inside
  return out;
}

IntList window_pair(const IValue& v, std::string_view op, std::string_view arg) {
  IntList l = v.to_int_list();
  if (l.size() == 1) l.push_back(l[0]);
  AG_CHECK(l.size() == 2, "{}: expected {} to have 2 values for 2-d convolution, but got {}", op, arg, shape_str(l));
  return l;
}

namespace {

Shape conv_shape(const Args& a) {
  const Tensor &x = a[0].to_tensor(), &w = a[1].to_tensor();
  const Tensor b = a[2].to_opt_tensor();
  AG_CHECK(!a[6].to_bool(), "convolution: transposed convolution is not supported");
  check_dim(x, 4, "convolution", "input");
  check_dim(w, 4, "convolution", "weight");
  check_same_dtype(x, w, "convolution", "input", "weight");
  check_floating(x, "convolution", "input");
  IntList st = window_pair(a[3], "convolution", "stride"), pad = window_pair(a[4], "convolution", "padding"),
          dil = window_pair(a[5], "convolution", "dilation");
  const int64_t groups = a[8].to_int();
  AG_CHECK(groups > 0 && x.sizes()[1] % groups == 0 && w.sizes()[0] % groups == 0,
           "convolution: groups={} must divide input channels {} and output channels {}", groups, x.sizes()[1],
           w.sizes()[0]);
  AG_CHECK(w.sizes()[1] * groups == x.sizes()[1],
           "convolution: expected input {} to have {} channels (weight {} with groups={}), but got {}", x.describe(),
           w.sizes()[1] * groups, w.describe(), groups, x.sizes()[1]);
  if (b.defined())
    AG_CHECK(b.dim() == 1 && b.sizes()[0] == w.sizes()[0], "convolution: expected bias of shape [{}], but got {}",
             w.sizes()[0], b.describe());
  for (int i = 0; i < 2; ++i) {
    AG_CHECK(st[i] > 0 && dil[i] > 0 && pad[i] >= 0,
             "convolution: expected positive stride and dilation and non-negative padding, but got "
             "stride {} padding {} dilation {}",
             shape_str(st), shape_str(pad), shape_str(dil));
  }
  Shape out{x.sizes()[0], w.sizes()[0], 0, 0};
  for (int i = 0; i < 2; ++i) {
    out[2 + i] = conv_out_size(x.sizes()[2 + i], w.sizes()[2 + i], st[i], pad[i], dil[i], false);
    AG_CHECK(out[2 + i] > 0, "convolution: the kernel {} (dilated) is larger than the padded input {}", w.describe(),
             x.describe());
  }
  return out;
}
}  // namespace

void register_conv_shapes(Registry& r) {
  r.shape(OpId::convolution, [](const Args& a) { return single(meta(conv_shape(a), a[0].to_tensor().dtype())); });
  r.shape(OpId::convolution_backward, [](const Args& a) {
    const Tensor &g = a[0].to_tensor(), &x = a[1].to_tensor(), &w = a[2].to_tensor();
    Args fwd{x, w, None{}, a[4], a[5], a[6], a[7], a[8], a[9]};
    Shape out = conv_shape(fwd);
    AG_CHECK(g.sizes() == out, "convolution_backward: expected grad_output of shape {}, but got {}", shape_str(out),
             g.describe());
    const BoolList& mask = a[10].to_bool_list();
    AG_CHECK(mask.size() == 3, "convolution_backward: output_mask needs 3 entries");
    Outputs o(3);
    if (mask[0])
      o[0] = meta(x.sizes(), x.dtype());
    else
      o[0] = Tensor();
    if (mask[1])
      o[1] = meta(w.sizes(), w.dtype());
    else
      o[1] = Tensor();
    if (mask[2])
      o[2] = meta({w.sizes()[0]}, g.dtype());
    else
      o[2] = Tensor();
    return o;
  });
}

}  // namespace aotgrad::ops
