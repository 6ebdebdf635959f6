// Composite ops of the reduction family: their decompositions into table ops, run before
// autograd as PyTorch's CompositeImplicitAutograd kernels are (so their gradients
// come from the ops they decompose into).
#include <algorithm>
#include "aotgrad/ops.h"
#include "ops/dispatch.h"
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

void register_reduction_composites(Registry& r) {
  r.decomposition(OpId::softmax_int, [](const Args& a) {
    Tensor x = a[2].is_none() ? a[0].to_tensor() : to(a[0].to_tensor(), a[2].to_dtype());
    return Outputs{_softmax(x, a[1].to_int(), false)};
  });
  r.decomposition(OpId::log_softmax_int, [](const Args& a) {
    Tensor x = a[2].is_none() ? a[0].to_tensor() : to(a[0].to_tensor(), a[2].to_dtype());
    return Outputs{_log_softmax(x, a[1].to_int(), false)};
  });
}

}  // namespace aotgrad::ops
