// Shape rules of the functional collectives: each result is shaped as its input.
#include "ops/collective.h"
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

void register_collective_shapes(Registry& r) {
  r.shape(OpId::c10d_all_reduce, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    parse_reduce_op(a[1].to_string());
    AG_CHECK(a[2].to_string() == "0", "all_reduce: the only process group is '0' (every rank), got '{}'",
             a[2].to_string());
    AG_CHECK(is_floating(x.dtype()), "all_reduce: expected a floating tensor, got {}", x.describe());
    return single(meta(x.sizes(), x.dtype()));
  });
  r.shape(OpId::c10d_wait_tensor, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    return single(meta(x.sizes(), x.dtype()));
  });
}

}  // namespace aotgrad::ops
