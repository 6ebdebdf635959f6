// Derivatives of the losses, and cross entropy as a composite.
#include "aotgrad/ops.h"
#include "ops/dispatch.h"
#include "ops/families.h"
#include "support/error.h"

namespace aotgrad::ops {

namespace {
using G = std::vector<Tensor>;
}

void register_loss_derivatives(Registry& r) {
  r.derivative(OpId::nll_loss_forward, [](const BackwardContext& c) {
    return G{nll_loss_backward(c.grad(0), c.in(0), c.in(1), c.args[2].to_opt_tensor(), c.args[3].to_int(),
                               c.args[4].to_int(), c.out(1))};
  });
  r.differentiable_outputs(OpId::nll_loss_forward, 1);
  r.derivative(OpId::mse_loss, [](const BackwardContext& c) {
    Tensor gs = c.need(0) ? mse_loss_backward(c.grad(), c.in(0), c.in(1), c.args[2].to_int()) : Tensor();
    Tensor gt = c.need(1) ? neg(mse_loss_backward(c.grad(), c.in(0), c.in(1), c.args[2].to_int())) : Tensor();
    return G{gs, gt};
  });
  r.not_differentiable(OpId::nll_loss_backward);
  r.not_differentiable(OpId::mse_loss_backward);
}

}  // namespace aotgrad::ops
