// Derivatives of convolution (one convolution_backward node, as in PyTorch).
#include "aotgrad/ops.h"
#include "ops/dispatch.h"
#include "ops/families.h"

namespace aotgrad::ops {

void register_conv_derivatives(Registry& r) {
  r.derivative(OpId::convolution, [](const BackwardContext& c) {
    Tensor b = c.args[2].to_opt_tensor();
    BoolList mask{c.need(0), c.need(1), b.defined() && c.need(2)};
    std::optional<IntList> bias_sizes;
    if (b.defined()) bias_sizes = IntList(b.sizes().begin(), b.sizes().end());
    auto [gx, gw, gb] = convolution_backward(c.grad(), c.in(0), c.in(1), bias_sizes, c.args[3].to_int_list(),
                                             c.args[4].to_int_list(), c.args[5].to_int_list(), c.args[6].to_bool(),
                                             c.args[7].to_int_list(), c.args[8].to_int(), mask);
    return std::vector<Tensor>{gx, gw, gb};
  });
  r.not_differentiable(OpId::convolution_backward);  // no double backward yet
}

}  // namespace aotgrad::ops
