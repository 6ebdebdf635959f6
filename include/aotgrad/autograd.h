// Eager autograd: backward(), grad(), the no-grad guard and user-defined functions.
//
// Every op call that sees a tensor requiring grad records an autograd node with a
// sequence number (seq_nr). backward() runs ready nodes highest seq_nr first, as
// PyTorch's engine does, so a traced backward lists its ops in PyTorch's order.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "aotgrad/ivalue.h"
#include "aotgrad/tensor.h"

namespace aotgrad::autograd {

/// Disables recording for a scope (torch.no_grad()).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

/// Enables recording for a scope, whatever the outer mode.
class EnableGradGuard {
 public:
  EnableGradGuard();
  ~EnableGradGuard();
  EnableGradGuard(const EnableGradGuard&) = delete;
  EnableGradGuard& operator=(const EnableGradGuard&) = delete;

 private:
  bool prev_;
};

bool is_grad_enabled();

/// Accumulates d(roots)/d(leaf) into every leaf's .grad. `grads` default to ones
/// for scalar roots (and must be given for the others).
void backward(const TensorList& roots, const TensorList& grads = {});
inline void backward(const Tensor& root, const Tensor& grad = Tensor()) {
  backward(TensorList{root}, grad.defined() ? TensorList{grad} : TensorList{});
}

/// d(sum_i <outputs_i, grad_outputs_i>)/d(inputs), without touching .grad.
/// An input the outputs do not depend on gets an undefined tensor when allow_unused,
/// else an error.
TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs = {},
                bool allow_unused = true);

/// True while the engine adds two gradient contributions for the same input
/// (the tracer marks that add with is_gradient_acc).
bool in_gradient_accumulation();

/// The seq_nr the next autograd node will get.
uint64_t peek_sequence_nr();

/// What a user-defined function's forward and backward share.
struct FunctionContext {
  TensorList saved;
  std::vector<IValue> values;
  /// Which inputs need a gradient (set before backward runs).
  std::vector<bool> needs_input_grad;
  /// When false, backward gets undefined gradients for outputs nothing used, instead
  /// of zeros (ctx.set_materialize_grads(False)).
  bool materialize_grads = true;
  void save_for_backward(TensorList tensors) { saved = std::move(tensors); }
};

using FunctionForward = std::function<TensorList(FunctionContext&, const TensorList& inputs)>;
using FunctionBackward = std::function<TensorList(FunctionContext&, const TensorList& grad_outputs)>;

/// Runs `forward` without recording, then records one node named `name` whose
/// backward is `backward` (torch.autograd.Function). backward returns one
/// gradient per input (undefined for none).
TensorList apply_function(const std::string& name, const TensorList& inputs, const FunctionForward& forward,
                          const FunctionBackward& backward);

}  // namespace aotgrad::autograd
