// Derivatives of 2-d pooling.
#include "aotgrad/ops.h"
#include "ops/dispatch.h"
#include "ops/families.h"

namespace aotgrad::ops {

namespace {
using G = std::vector<Tensor>;
}

void register_pool_derivatives(Registry& r) {
  r.derivative(OpId::max_pool2d_with_indices, [](const BackwardContext& c) {
    const Args& a = c.args;
    return G{max_pool2d_with_indices_backward(c.grad(0), c.in(0), a[1].to_int_list(), a[2].to_int_list(),
                                              a[3].to_int_list(), a[4].to_int_list(), a[5].to_bool(), c.out(1))};
  });
  r.differentiable_outputs(OpId::max_pool2d_with_indices, 1);
  r.derivative(OpId::avg_pool2d, [](const BackwardContext& c) {
    const Args& a = c.args;
    return G{call1(OpId::avg_pool2d_backward, {c.grad(), c.in(0), a[1], a[2], a[3], a[4], a[5], a[6]})};
  });
  r.derivative(OpId::_adaptive_avg_pool2d,
               [](const BackwardContext& c) { return G{_adaptive_avg_pool2d_backward(c.grad(), c.in(0))}; });
  for (OpId id :
       {OpId::max_pool2d_with_indices_backward, OpId::avg_pool2d_backward, OpId::_adaptive_avg_pool2d_backward})
    r.not_differentiable(id);
}

}  // namespace aotgrad::ops
