// Shape rules of batch norm and layer norm.
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

namespace {
void check_channel_vec(const Tensor& t, int64_t c, std::string_view op, std::string_view arg) {
  if (!t.defined()) return;
  AG_CHECK(t.dim() == 1 && t.sizes()[0] == c, "{}: expected {} of shape [{}], but got {}", op, arg, c, t.describe());
}
int64_t bn_channels(const Args& a, std::string_view op) {
  const Tensor& x = a[0].to_tensor();
  AG_CHECK(x.dim() >= 2, "{}: expected input with at least 2 dims (N, C, ...), but got {}", op, x.describe());
  check_floating(x, op, "input");
  const int64_t c = x.sizes()[1];
  check_channel_vec(a[1].to_opt_tensor(), c, op, "weight");
  check_channel_vec(a[2].to_opt_tensor(), c, op, "bias");
  check_channel_vec(a[3].to_opt_tensor(), c, op, "running_mean");
  check_channel_vec(a[4].to_opt_tensor(), c, op, "running_var");
  return c;
}
}  // namespace

/// (rows, cols) of layer norm: input viewed as [rows, prod(normalized_shape)].
std::pair<int64_t, int64_t> layer_norm_split(const Tensor& x, const IntList& shape, std::string_view op) {
  const int64_t k = static_cast<int64_t>(shape.size());
  AG_CHECK(k >= 1 && k <= x.dim(), "{}: normalized_shape {} does not fit input {}", op, shape_str(shape), x.describe());
  for (int64_t i = 0; i < k; ++i)
    AG_CHECK(x.sizes()[x.dim() - k + i] == shape[i], "{}: expected input with trailing shape {}, but got input {}", op,
             shape_str(shape), x.describe());
  int64_t cols = shape_numel(Shape(shape.begin(), shape.end()));
  return {cols == 0 ? 0 : x.numel() / cols, cols};
}

void register_norm_shapes(Registry& r) {
  r.shape(OpId::_native_batch_norm_legit_functional, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    int64_t c = bn_channels(a, "batch_norm");
    return Outputs{meta(x.sizes(), x.dtype()), meta({c}, x.dtype()), meta({c}, x.dtype()),
                   meta({c}, a[3].to_tensor().dtype()), meta({c}, a[4].to_tensor().dtype())};
  });
  r.shape(OpId::_native_batch_norm_legit_no_training, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    bn_channels(a, "batch_norm");
    return Outputs{meta(x.sizes(), x.dtype()), meta({0}, x.dtype()), meta({0}, x.dtype())};
  });
  r.shape(OpId::native_batch_norm_backward, [](const Args& a) {
    const Tensor &g = a[0].to_tensor(), &x = a[1].to_tensor();
    AG_CHECK(g.sizes() == x.sizes(), "native_batch_norm_backward: grad_out {} must match input {}", g.describe(),
             x.describe());
    const int64_t c = x.sizes()[1];
    const BoolList& m = a[9].to_bool_list();
    Outputs o(3);
    o[0] = m[0] ? IValue(meta(x.sizes(), x.dtype())) : IValue(Tensor());
    o[1] = m[1] ? IValue(meta({c}, x.dtype())) : IValue(Tensor());
    o[2] = m[2] ? IValue(meta({c}, x.dtype())) : IValue(Tensor());
    return o;
  });
  r.shape(OpId::native_layer_norm, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    const IntList& ns = a[1].to_int_list();
    check_floating(x, "layer_norm", "input");
    layer_norm_split(x, ns, "layer_norm");
    Shape w(ns.begin(), ns.end());
    for (int i : {2, 3}) {
      Tensor t = a[i].to_opt_tensor();
      if (t.defined())
        AG_CHECK(t.sizes() == w, "layer_norm: expected {} of shape {}, but got {}", i == 2 ? "weight" : "bias",
                 shape_str(w), t.describe());
    }
    Shape stat(x.sizes().begin(), x.sizes().end() - ns.size());
    stat.resize(x.sizes().size(), 1);
    return Outputs{meta(x.sizes(), x.dtype()), meta(stat, x.dtype()), meta(stat, x.dtype())};
  });
  r.shape(OpId::native_layer_norm_backward, [](const Args& a) {
    const Tensor &g = a[0].to_tensor(), &x = a[1].to_tensor();
    AG_CHECK(g.sizes() == x.sizes(), "native_layer_norm_backward: grad_out {} must match input {}", g.describe(),
             x.describe());
    const IntList& ns = a[2].to_int_list();
    const BoolList& m = a[7].to_bool_list();
    Shape w(ns.begin(), ns.end());
    Outputs o(3);
    o[0] = m[0] ? IValue(meta(x.sizes(), x.dtype())) : IValue(Tensor());
    o[1] = m[1] && a[5].is_tensor() ? IValue(meta(w, x.dtype())) : IValue(Tensor());
    o[2] = m[2] && a[6].is_tensor() ? IValue(meta(w, x.dtype())) : IValue(Tensor());
    return o;
  });
}

}  // namespace aotgrad::ops
