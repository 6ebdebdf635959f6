// Composite ops of the loss family: their decompositions into table ops, run before
// autograd as PyTorch's CompositeImplicitAutograd kernels are (so their gradients
// come from the ops they decompose into).
#include "aotgrad/ops.h"
#include "ops/dispatch.h"
#include "ops/families.h"
#include "support/error.h"

namespace aotgrad::ops {

void register_loss_composites(Registry& r) {
  r.decomposition(OpId::cross_entropy_loss, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    AG_CHECK(a[5].to_double() == 0.0, "cross_entropy: label_smoothing is not supported, got {}", a[5].to_double());
    Tensor lsm = log_softmax(x, x.dim() == 1 ? 0 : 1);
    auto [loss, total] = nll_loss_forward(lsm, a[1].to_tensor(), a[2].to_opt_tensor(), a[3].to_int(), a[4].to_int());
    return Outputs{loss};
  });
}

}  // namespace aotgrad::ops
