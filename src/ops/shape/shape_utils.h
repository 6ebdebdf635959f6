// Helpers for shape rules: type promotion, meta tensors, argument checks.
#pragma once

#include <optional>

#include "aotgrad/ivalue.h"
#include "core/shape.h"
#include "ops/registry.h"
#include "support/error.h"

namespace aotgrad::ops {

/// Result dtype of a binary op on two tensors, with PyTorch's rule for 0-d
/// tensors (they only promote across categories: bool < integer < floating).
DType result_type(const Tensor& a, const Tensor& b);
/// Result dtype of a tensor with a number.
DType result_type(const Tensor& a, const Scalar& b);
/// A tensor argument that may be a wrapped number (x + 1): numbers become 0-d tensors.
Tensor operand(const IValue& v);
/// Result dtype of a binary op whose operands may be wrapped numbers.
DType result_type(const IValue& a, const IValue& b);
/// The dtype float ops compute in: the tensor's if floating, else float32.
inline DType float_type(DType t) {
  return is_floating(t) ? t : DType::Float32;
}

inline Tensor meta(const Shape& sizes, DType dtype) {
  return Tensor::meta(sizes, dtype);
}
/// A view of all of x, laid out as x is: the shape rule of alias, detach and prims.view_of.
Outputs whole_view(const Args& a);

inline Outputs single(Tensor t) {
  return {IValue(std::move(t))};
}

/// Throws unless `t` has a floating dtype.
void check_floating(const Tensor& t, std::string_view op, std::string_view arg);
/// Throws unless `t` has exactly `ndim` dims.
void check_dim(const Tensor& t, int64_t ndim, std::string_view op, std::string_view arg);
/// Throws unless both tensors have the same dtype.
void check_same_dtype(const Tensor& a, const Tensor& b, std::string_view op, std::string_view an, std::string_view bn);
/// Wraps each dim of `dims` (empty = all dims) and returns a mask over t's dims.
std::vector<bool> reduction_mask(const IntList& dims, int64_t ndim, std::string_view op);
/// The shape left after reducing the masked dims.
Shape reduced_shape(const Shape& sizes, const std::vector<bool>& mask, bool keepdim);

/// Resolves one -1 in `sizes` against `numel` (view, reshape).
Shape infer_size(const IntList& sizes, int64_t numel, std::string_view op);
/// infer_size with expressions (a symbolic trace): the -1 becomes the elements of
/// `in` divided by the others' product; the values are checked as infer_size does.
SymShape infer_size(const SymShape& sizes, const SymShape& in, std::string_view op);
/// The element count as a SymInt.
SymInt sym_numel(const Tensor& t);
/// Strides that let `new_sizes` view the layout (sizes, strides), or nullopt when
/// no view can (reshape then copies).
std::optional<Shape> view_strides(const Shape& sizes, const Shape& strides, const Shape& new_sizes);

}  // namespace aotgrad::ops
