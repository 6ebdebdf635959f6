// Custom ops (SPEC.md §8): a user op with a CPU implementation, a fake (shape)
// implementation and optionally an autograd rule. Once registered it is an op like
// any other: one node (`torch.ops.my_lib.foo.default`, named `foo`) in every graph,
// eager and traced alike, and its backward records whatever ops the rule calls.
#pragma once

#include <functional>
#include <string>

#include "aotgrad/ivalue.h"

namespace aotgrad {

struct CustomOpDef {
  /// "my_lib::foo"
  std::string name;
  /// The arguments and results, as in a PyTorch schema: "(Tensor x, Tensor y) -> Tensor".
  /// Arguments may be tensors or numbers; results are tensors.
  std::string signature;
  /// Computes the results on real tensors.
  std::function<TensorList(const Args& args)> cpu;
  /// The results' shapes and dtypes (meta tensors, Tensor::meta) from the arguments'
  /// metadata alone; it must not read data.
  std::function<TensorList(const Args& args)> fake;
  /// Optional: the gradient of each tensor argument (undefined for none) from the
  /// arguments, the results and the results' gradients. Without it the op is not
  /// differentiable, and using it on a tensor that requires grad is an error.
  std::function<TensorList(const Args& args, const TensorList& results, const TensorList& grads)> backward;
};

/// Registers the op; a user error if the definition is incomplete or the name taken.
void register_custom_op(const CustomOpDef& def);
/// Calls a registered custom op through the dispatcher.
TensorList call_custom_op(const std::string& name, Args args);

}  // namespace aotgrad
