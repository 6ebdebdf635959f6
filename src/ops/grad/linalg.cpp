// Derivatives of matrix multiply, and the composites matmul and linear.
// See Note [Derivative order] in grad/pointwise.cpp.
#include "aotgrad/ops.h"
#include "ops/dispatch.h"
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

namespace {
using G = std::vector<Tensor>;

bool column_major(const Tensor& m) {
  return m.strides()[0] == 1 && m.strides()[1] == m.sizes()[0];
}
Tensor scale(const Tensor& g, const Scalar& alpha) {
  return alpha.to_double() == 1 ? g : mul(g, alpha);
}
// d(mat1 @ mat2)/d mat1, laid out like mat1 (PyTorch's mm_mat1_backward).
Tensor mm_mat1_backward(const Tensor& grad, const Tensor& mat2, const Tensor& mat1, const Scalar& alpha) {
  if (column_major(mat1)) return scale(t(mm(mat2, t(grad))), alpha);
  return scale(mm(grad, t(mat2)), alpha);
}
Tensor mm_mat2_backward(const Tensor& grad, const Tensor& mat1, const Tensor& mat2, const Scalar& alpha) {
  if (column_major(mat2)) return scale(t(mm(t(grad), mat1)), alpha);
  return scale(mm(t(mat1), grad), alpha);
}
}  // namespace

void register_linalg_derivatives(Registry& r) {
  r.derivative(OpId::mm, [](const BackwardContext& c) {
    Tensor g2 = c.need(1) ? mm_mat2_backward(c.grad(), c.in(0), c.in(1), 1) : Tensor();
    Tensor g1 = c.need(0) ? mm_mat1_backward(c.grad(), c.in(1), c.in(0), 1) : Tensor();
    return G{g1, g2};
  });
  r.derivative(OpId::addmm, [](const BackwardContext& c) {
    Scalar alpha = c.args[4].to_scalar();
    Tensor g1 = c.need(1) ? mm_mat1_backward(c.grad(), c.in(2), c.in(1), alpha) : Tensor();
    Tensor g2 = c.need(2) ? mm_mat2_backward(c.grad(), c.in(1), c.in(2), alpha) : Tensor();
    Tensor gs = c.need(0) ? scale(c.grad(), c.args[3].to_scalar()) : Tensor();
    return G{gs, g1, g2};
  });
  r.derivative(OpId::bmm, [](const BackwardContext& c) {
    Tensor g2 = c.need(1) ? bmm(transpose(c.in(0), 1, 2), c.grad()) : Tensor();
    Tensor g1 = c.need(0) ? bmm(c.grad(), transpose(c.in(1), 1, 2)) : Tensor();
    return G{g1, g2};
  });
}

}  // namespace aotgrad::ops
