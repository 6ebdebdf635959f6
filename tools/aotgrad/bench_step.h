// One BENCHMARKS.md training step of a benchmark model, eager or compiled: zero the
// gradients, forward (which returns the loss), backward, plain SGD.
#pragma once

#include <optional>

#include "aotgrad/autograd.h"
#include "aotgrad/compile.h"
#include "aotgrad/export.h"
#include "aotgrad/models.h"
#include "aotgrad/optim.h"

namespace aotgrad::cli {

class BenchStep {
 public:
  static constexpr double kLearningRate = 0.01;

  /// With `compile_options`, exports and compiles the model's joint graph first.
  BenchStep(const models::ModelInfo& info, std::optional<compile::CompileOptions> compile_options)
      : inst_(models::instantiate(info)), sgd_(optim::parameters_of(*inst_.module), kLearningRate) {
    if (compile_options) {
      // Stack traces are for reading graphs; symbolising them loads the binary's
      // debug info, which a training process does not need to hold.
      exporting::ExportOptions export_options;
      export_options.record_stack_traces = false;
      auto joint = exporting::aot_export_joint_with_descriptors(*inst_.module, inst_.example.args, inst_.example.kwargs,
                                                                export_options);
      compiled_ = compile::aot_compile_joint_with_descriptors(joint, *compile_options);
    }
  }
  void run() {
    sgd_.zero_grad();
    Tensor loss = compiled_ ? compiled_->call_module(*inst_.module, inst_.example.args, inst_.example.kwargs).tensor()
                            : (*inst_.module)(inst_.example.args, inst_.example.kwargs).tensor();
    autograd::backward(loss);
    sgd_.step();
  }
  const std::optional<compile::CompiledFunction>& compiled() const { return compiled_; }

 private:
  models::Instance inst_;
  optim::SGD sgd_;
  std::optional<compile::CompiledFunction> compiled_;
};

}  // namespace aotgrad::cli
