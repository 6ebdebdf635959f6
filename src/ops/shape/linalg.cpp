// Shape rules of matrix multiply.
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

namespace {
void check_mm(const Tensor& a, const Tensor& b, std::string_view op, std::string_view an, std::string_view bn) {
  check_dim(a, 2, op, an);
  check_dim(b, 2, op, bn);
  AG_CHECK(a.sizes()[1] == b.sizes()[0], "{}: expected {} to have {} rows to match {} {}, but got {} {}", op, bn,
           a.sizes()[1], an, shape_str(a.sizes()), bn, shape_str(b.sizes()));
  check_same_dtype(a, b, op, an, bn);
}
}  // namespace

void register_linalg_shapes(Registry& r) {
  r.shape(OpId::mm, [](const Args& a) {
    const Tensor &x = a[0].to_tensor(), &y = a[1].to_tensor();
    check_mm(x, y, "mm", "self", "mat2");
    return single(meta({x.sizes()[0], y.sizes()[1]}, x.dtype()));
  });
  r.shape(OpId::addmm, [](const Args& a) {
    const Tensor &s = a[0].to_tensor(), &x = a[1].to_tensor(), &y = a[2].to_tensor();
    check_mm(x, y, "addmm", "mat1", "mat2");
    Shape out{x.sizes()[0], y.sizes()[1]};
    Shape b = broadcast_shapes(s.sizes(), out, "addmm");
    AG_CHECK(b == out, "addmm: expected self {} to broadcast to the product's shape {}", s.describe(), shape_str(out));
    check_same_dtype(s, x, "addmm", "self", "mat1");
    return single(meta(out, x.dtype()));
  });
  r.shape(OpId::bmm, [](const Args& a) {
    const Tensor &x = a[0].to_tensor(), &y = a[1].to_tensor();
    check_dim(x, 3, "bmm", "self");
    check_dim(y, 3, "bmm", "mat2");
    AG_CHECK(x.sizes()[0] == y.sizes()[0], "bmm: expected self {} and mat2 {} to have the same batch size",
             x.describe(), y.describe());
    AG_CHECK(x.sizes()[2] == y.sizes()[1], "bmm: expected mat2 to have {} rows to match self {}, but got mat2 {}",
             x.sizes()[2], shape_str(x.sizes()), shape_str(y.sizes()));
    check_same_dtype(x, y, "bmm", "self", "mat2");
    return single(meta({x.sizes()[0], x.sizes()[1], y.sizes()[2]}, x.dtype()));
  });
}

}  // namespace aotgrad::ops
