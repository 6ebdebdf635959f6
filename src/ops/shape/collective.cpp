// Shape rules of the functional collectives: all_reduce and wait_tensor keep their
// input's shape; all_gather_into_tensor stacks group_size inputs along dim 0 and
// reduce_scatter_tensor leaves each rank 1/group_size of dim 0.
#include "ops/collective.h"
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

namespace {
int64_t group_size_of(int64_t group_size, const std::string& group_name, const char* op) {
  AG_CHECK(group_name == "0", "{}: the only process group is '0' (every rank), got '{}'", op, group_name);
  AG_CHECK(group_size >= 1, "{}: group_size must be 1 or more, got {}", op, group_size);
  return group_size;
}
}  // namespace

void register_collective_shapes(Registry& r) {
  r.shape(OpId::c10d_all_reduce, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    parse_reduce_op(a[1].to_string());
    AG_CHECK(a[2].to_string() == "0", "all_reduce: the only process group is '0' (every rank), got '{}'",
             a[2].to_string());
    AG_CHECK(is_floating(x.dtype()), "all_reduce: expected a floating tensor, got {}", x.describe());
    return single(meta(x.sizes(), x.dtype()));
  });
  r.shape(OpId::c10d_all_gather_into_tensor, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    const int64_t n = group_size_of(a[1].to_int(), a[2].to_string(), "all_gather_into_tensor");
    AG_CHECK(x.dim() >= 1, "all_gather_into_tensor: expected a tensor of 1 or more dims, got {}", x.describe());
    Shape out = x.sizes();
    out[0] *= n;
    return single(meta(out, x.dtype()));
  });
  r.shape(OpId::c10d_reduce_scatter_tensor, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    parse_reduce_op(a[1].to_string());
    const int64_t n = group_size_of(a[2].to_int(), a[3].to_string(), "reduce_scatter_tensor");
    AG_CHECK(is_floating(x.dtype()), "reduce_scatter_tensor: expected a floating tensor, got {}", x.describe());
    AG_CHECK(x.dim() >= 1 && x.size(0) % n == 0,
             "reduce_scatter_tensor: dim 0 must divide into group_size {} equal parts, got {}", n, x.describe());
    Shape out = x.sizes();
    out[0] /= n;
    return single(meta(out, x.dtype()));
  });
  r.shape(OpId::c10d_wait_tensor, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    return single(meta(x.sizes(), x.dtype()));
  });
}

}  // namespace aotgrad::ops
