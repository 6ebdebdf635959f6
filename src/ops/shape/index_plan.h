// Advanced indexing (x[idx0, :, idx2]) laid out once for shape rules and kernels.
//
// PyTorch's rule: the index tensors broadcast to one shape B; if the indexed
// dims are adjacent, B replaces them in place, otherwise B goes first and the
// other dims follow in order.
#pragma once

#include <functional>

#include "aotgrad/ivalue.h"

namespace aotgrad::ops {

struct IndexPlan {
  Shape result;                  // shape of x[indices]
  Shape index_shape;             // B
  int64_t index_pos = 0;         // where B sits among the result dims
  std::vector<int64_t> indexed;  // dims of self that are indexed, in order
  std::vector<int64_t> kept;     // dims of self that are not
  TensorList index_tensors;      // one per indexed dim, int64, expanded to B, contiguous (empty for metas)
};

/// Checks the indices against `self` and lays out the result. With `materialize`,
/// index_tensors are filled (kernels need them; shape rules do not).
IndexPlan plan_index(const Tensor& self, const TensorList& indices, std::string_view op, bool materialize);

/// Calls fn(result_linear_index, self_offset) for every element of the result.
/// Throws if an index is out of range.
void for_each_indexed(const Tensor& self, const IndexPlan& plan, std::string_view op,
                      const std::function<void(int64_t, int64_t)>& fn);

}  // namespace aotgrad::ops
