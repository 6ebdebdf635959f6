// Derivatives of batch norm and layer norm (each one fused backward op).
#include "aotgrad/ops.h"
#include "ops/dispatch.h"
#include "ops/families.h"

namespace aotgrad::ops {

void register_norm_derivatives(Registry& r) {
  r.derivative(OpId::_native_batch_norm_legit_functional, [](const BackwardContext& c) {
    Tensor w = c.args[1].to_opt_tensor();
    BoolList mask{c.need(0), c.need(1), c.need(2)};
    auto [gx, gw, gb] = native_batch_norm_backward(c.grad(0), c.in(0), w, c.in(3), c.in(4), c.out(1), c.out(2),
                                                   c.args[5].to_bool(), c.args[7].to_double(), mask);
    return std::vector<Tensor>{gx, gw, gb};
  });
  r.derivative(OpId::_native_batch_norm_legit_no_training, [](const BackwardContext& c) {
    BoolList mask{c.need(0), c.need(1), c.need(2)};
    auto [gx, gw, gb] = native_batch_norm_backward(c.grad(0), c.in(0), c.args[1].to_opt_tensor(), c.in(3), c.in(4),
                                                   c.out(1), c.out(2), false, c.args[6].to_double(), mask);
    return std::vector<Tensor>{gx, gw, gb};
  });
  r.not_differentiable(OpId::native_batch_norm_backward);
  r.derivative(OpId::native_layer_norm, [](const BackwardContext& c) {
    BoolList mask{c.need(0), c.need(1), c.need(2)};
    auto [gx, gw, gb] = native_layer_norm_backward(c.grad(0), c.in(0), c.args[1].to_int_list(), c.out(1), c.out(2),
                                                   c.args[2].to_opt_tensor(), c.args[3].to_opt_tensor(), mask);
    return std::vector<Tensor>{gx, gw, gb};
  });
  r.not_differentiable(OpId::native_layer_norm_backward);
  for (OpId id :
       {OpId::_native_batch_norm_legit_functional, OpId::_native_batch_norm_legit_no_training, OpId::native_layer_norm})
    r.differentiable_outputs(id, 1);
}

}  // namespace aotgrad::ops
