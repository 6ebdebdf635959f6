// The functional collectives are applied to gradients by the parallel passes, never
// differentiated (PyTorch's functional collectives have no autograd formula either).
#include "ops/families.h"

namespace aotgrad::ops {

void register_collective_derivatives(Registry& r) {
  r.not_differentiable(OpId::c10d_all_reduce);
  r.not_differentiable(OpId::c10d_all_gather_into_tensor);
  r.not_differentiable(OpId::c10d_reduce_scatter_tensor);
  r.not_differentiable(OpId::c10d_wait_tensor);
}

}  // namespace aotgrad::ops
