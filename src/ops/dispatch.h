// The one entry point every op call goes through, and its two hooks.
//
// call(op, args):
//   1. normalise args against the schema (defaults filled, types checked);
//   2. Composite ops: run the decomposition (its ops come back through call());
//   3. if grad mode is on and a tensor argument requires grad, hand over to the
//      autograd handler (installed by src/autograd), which calls
//      call_below_autograd and records a node;
//   4. call_below_autograd: if a DispatchMode is active (the tracer), it gets the
//      call; otherwise run_kernel computes it.
// So autograd sits above the mode, as in PyTorch: tracing a backward records the
// ops its derivative formulas call. See Note [Dispatch order].
#pragma once

#include "aotgrad/ivalue.h"
#include "ops/registry.h"
#include "support/error.h"

namespace aotgrad::ops {

/// Calls an op. `args` are positional in schema order; trailing defaults may be left out.
Outputs call(OpId id, Args args);
/// Same, for a single-tensor result.
Tensor call1(OpId id, Args args);
/// Steps 4 above: the mode if one is active, else the kernel.
Outputs call_below_autograd(const OpInfo& op, const Args& args);
/// Shape rule, allocation and kernel (or aliasing for views), ignoring modes.
Outputs run_kernel(const OpInfo& op, const Args& args);
/// Shape rule only: meta tensors for every output (Composite ops are not allowed).
Outputs run_shape(const OpInfo& op, const Args& args);
/// Fills defaults and checks types; throws an error naming the op and argument.
void normalize_args(const OpInfo& op, Args& args);

/// Intercepts op calls below autograd while active (the tracer is one).
class DispatchMode {
 public:
  virtual ~DispatchMode() = default;
  virtual Outputs dispatch(const OpInfo& op, const Args& args) = 0;
  /// A symbolic trace fixes the symbols of `e` at their example values (guard_int).
  virtual void specialize(const SymExpr& e, const std::string& reason) {
    (void)e;
    (void)reason;
  }
};
DispatchMode* current_mode();
/// A size used as a plain number (a mean's divisor, a loop count): in a symbolic
/// trace its symbols are specialised (the graph serves only this value, and says
/// why); the value in the example either way. PyTorch's guard_int.
int64_t guard_int(const SymInt& v, const std::string& reason);
/// Installs a mode for a scope. While the mode handles a call it is suspended,
/// so ops it runs itself go to the kernels.
class ModeGuard {
 public:
  explicit ModeGuard(DispatchMode* mode);
  ~ModeGuard();
  ModeGuard(const ModeGuard&) = delete;
  ModeGuard& operator=(const ModeGuard&) = delete;

 private:
  DispatchMode* prev_;
};

/// Whether autograd records (thread-local; see autograd::NoGradGuard).
bool grad_mode_enabled();
void set_grad_mode(bool enabled);

using AutogradHandler = Outputs (*)(const OpInfo& op, const Args& args);
void set_autograd_handler(AutogradHandler handler);

/// The tensors among an op's arguments in order (a list argument contributes
/// each element): the slots a derivative returns gradients for.
std::vector<Tensor> tensor_slots(const OpInfo& op, const Args& args);
/// The tensors among an op's results in order.
std::vector<Tensor> flatten_outputs(const Outputs& outs);

/// What a derivative formula sees.
struct BackwardContext {
  const OpInfo& op;
  const Args& args;                  // the inputs as the op got them
  const std::vector<Tensor>& outs;   // the outputs, flattened (no autograd history)
  const std::vector<Tensor>& grads;  // one per flattened output; undefined means zero
  const std::vector<bool>& needs;    // per input slot: is its gradient wanted?

  const Tensor& in(size_t i) const { return args[i].to_tensor(); }
  /// Output i. The result (output 0) only for a derivative registered with
  /// reads_result: autograd saves it for those alone (Note [Saved results]).
  const Tensor& out(size_t i = 0) const {
    AG_INTERNAL_CHECK(i != 0 || op.derivative_reads_result,
                      "the derivative of {} reads its result; register it with reads_result", op.qualified_name());
    return outs[i];
  }
  const Tensor& grad(size_t i = 0) const { return grads[i]; }
  bool need(size_t slot) const { return slot < needs.size() && needs[slot]; }
};

}  // namespace aotgrad::ops
