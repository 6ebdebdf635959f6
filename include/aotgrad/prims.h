// The prims: the small, strict op set decompositions lower to (prims::add, …).
//
// Elementwise prims take operands of one shape and dtype (a number is allowed as the
// second operand); broadcast_in_dim and convert_element_type make broadcasting and
// type promotion explicit; reductions never keep dims. Names and arguments follow
// torch.ops.prims.
#pragma once

#include "aotgrad/ivalue.h"
#include "aotgrad/tensor.h"

namespace aotgrad::prims {

Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor erf(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor reciprocal(const Tensor& x);
/// Binary prims: `b` is a tensor of a's shape and dtype, or a number.
Tensor add(const Tensor& a, const IValue& b);
Tensor sub(const Tensor& a, const IValue& b);
Tensor mul(const Tensor& a, const IValue& b);
Tensor div(const Tensor& a, const IValue& b);
Tensor maximum(const Tensor& a, const IValue& b);
Tensor minimum(const Tensor& a, const IValue& b);
Tensor pow(const Tensor& a, const IValue& b);
Tensor eq(const Tensor& a, const IValue& b);
Tensor ne(const Tensor& a, const IValue& b);
Tensor gt(const Tensor& a, const IValue& b);
Tensor ge(const Tensor& a, const IValue& b);
Tensor lt(const Tensor& a, const IValue& b);
Tensor le(const Tensor& a, const IValue& b);
Tensor bitwise_and(const Tensor& a, const Tensor& b);
/// `a` or `b` may be a number.
Tensor where(const Tensor& pred, const IValue& a, const IValue& b);
Tensor convert_element_type(const Tensor& x, DType dtype);
Tensor clone(const Tensor& x);
Tensor full(const IntList& shape, Scalar value, DType dtype);
Tensor broadcast_in_dim(const Tensor& x, const IntList& shape, const IntList& broadcast_dimensions);
Tensor transpose(const Tensor& x, const IntList& permutation);
Tensor squeeze(const Tensor& x, const IntList& dims);
Tensor slice(const Tensor& x, const IntList& start, const IntList& limit, const IntList& strides);
Tensor reshape(const Tensor& x, const IntList& shape);
/// An alias of x (aten.detach lowers to it).
Tensor view_of(const Tensor& x);
Tensor cat(const TensorList& tensors, int64_t dim);
/// No dims: every dim.
Tensor sum(const Tensor& x, const IntList& dims);
Tensor amax(const Tensor& x, const IntList& dims);
Tensor var(const Tensor& x, const IntList& dims, double correction);

}  // namespace aotgrad::prims
