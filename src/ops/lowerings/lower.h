// Helpers for the decompositions that lower ATen ops to prims (src/ops/lowerings/).
//
// Prims are strict, so each lowering makes type promotion and broadcasting
// explicit. A lowering may return one of its inputs, as PyTorch's decompositions do;
// the tracer copies it where autograd above would attach history to it
// (Tracer::decompose_or_record).
#pragma once

#include "aotgrad/ops.h"
#include "aotgrad/prims.h"
#include "core/shape.h"
#include "ops/dispatch.h"
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops::lower {

/// x converted to dtype (x itself when it already has it).
inline Tensor to_type(const Tensor& x, DType dtype) {
  return x.dtype() == dtype ? x : prims::convert_element_type(x, dtype);
}

/// x broadcast to `shape` with NumPy's alignment (x itself when it already has it).
inline Tensor bcast(const Tensor& x, const Shape& shape) {
  if (x.sizes() == shape) return x;
  IntList dims;
  const int64_t lead = static_cast<int64_t>(shape.size()) - x.dim();
  for (int64_t i = 0; i < x.dim(); ++i) dims.push_back(lead + i);
  return prims::broadcast_in_dim(x, shape, dims);
}

/// The dtype of output `i` of `op` called with `args`, from its shape rule.
inline DType out_dtype(OpId op, const Args& args, size_t i = 0) {
  return run_shape(op_info(op), args)[i].to_tensor().dtype();
}

/// A reduced tensor (dims in `mask` removed) broadcast back to `shape`.
inline Tensor unreduce(const Tensor& r, const Shape& shape, const std::vector<bool>& mask) {
  IntList kept;
  for (size_t i = 0; i < mask.size(); ++i)
    if (!mask[i]) kept.push_back(static_cast<int64_t>(i));
  return prims::broadcast_in_dim(r, shape, kept);
}

/// The reduced dims of `mask` as a list.
inline IntList dims_of(const std::vector<bool>& mask) {
  IntList d;
  for (size_t i = 0; i < mask.size(); ++i)
    if (mask[i]) d.push_back(static_cast<int64_t>(i));
  return d;
}

/// keepdim: a reduced tensor given back its size-1 dims.
inline Tensor keep_dims(const Tensor& r, const Shape& shape, const std::vector<bool>& mask) {
  return unreduce(r, reduced_shape(shape, mask, true), mask);
}

/// A fresh copy when `t` is one of the inputs, where PyTorch's decomposition makes one.
inline Tensor fresh(const Tensor& t, const Tensor& input) {
  return t.is_same(input) ? prims::clone(t) : t;
}

}  // namespace aotgrad::ops::lower

namespace aotgrad::ops {
/// batch_norm.cpp's lowerings, registered with the norm family's.
void register_batch_norm_lowerings(Registry& r);
}  // namespace aotgrad::ops
