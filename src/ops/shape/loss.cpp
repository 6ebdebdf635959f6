// Shape rules of the losses. reduction: 0 none, 1 mean, 2 sum (at::Reduction).
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

namespace {
void check_reduction(int64_t r, std::string_view op) {
  AG_CHECK(r >= 0 && r <= 2, "{}: expected reduction 0 (none), 1 (mean) or 2 (sum), but got {}", op, r);
}
void check_nll(const Tensor& x, const Tensor& target, const Tensor& w) {
  AG_CHECK(x.dim() == 1 || x.dim() == 2, "nll_loss: expected input of 1 or 2 dims, but got {}", x.describe());
  check_floating(x, "nll_loss", "self");
  AG_CHECK(is_integral(target.dtype()), "nll_loss: expected target to be an integer tensor, but got {}",
           target.describe());
  const int64_t n = x.dim() == 2 ? x.sizes()[0] : 1;
  AG_CHECK(target.numel() == n && target.dim() == x.dim() - 1,
           "nll_loss: expected target of shape [{}] to match input {}, but got target {}", n, x.describe(),
           target.describe());
  if (w.defined())
    AG_CHECK(w.dim() == 1 && w.sizes()[0] == x.sizes().back(), "nll_loss: expected weight of shape [{}], but got {}",
             x.sizes().back(), w.describe());
}
}  // namespace

void register_loss_shapes(Registry& r) {
  r.shape(OpId::nll_loss_forward, [](const Args& a) {
    const Tensor &x = a[0].to_tensor(), &t = a[1].to_tensor();
    check_nll(x, t, a[2].to_opt_tensor());
    const int64_t red = a[3].to_int();
    check_reduction(red, "nll_loss");
    Shape out = red == 0 && x.dim() == 2 ? Shape{x.sizes()[0]} : Shape{};
    return Outputs{meta(out, x.dtype()), meta({}, x.dtype())};
  });
  r.shape(OpId::nll_loss_backward, [](const Args& a) {
    const Tensor& x = a[1].to_tensor();
    check_nll(x, a[2].to_tensor(), a[3].to_opt_tensor());
    return single(meta(x.sizes(), x.dtype()));
  });
  r.shape(OpId::mse_loss, [](const Args& a) {
    const Tensor &x = a[0].to_tensor(), &t = a[1].to_tensor();
    check_floating(x, "mse_loss", "self");
    Shape s = broadcast_shapes(x.sizes(), t.sizes(), "mse_loss");
    check_reduction(a[2].to_int(), "mse_loss");
    return single(meta(a[2].to_int() == 0 ? s : Shape{}, x.dtype()));
  });
  r.shape(OpId::mse_loss_backward, [](const Args& a) {
    const Tensor &x = a[1].to_tensor(), &t = a[2].to_tensor();
    return single(meta(broadcast_shapes(x.sizes(), t.sizes(), "mse_loss_backward"), x.dtype()));
  });
}

}  // namespace aotgrad::ops
