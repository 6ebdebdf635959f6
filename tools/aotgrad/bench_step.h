// One BENCHMARKS.md training step of a benchmark model, eager or compiled: zero the
// gradients, forward (which returns the loss), backward, plain SGD. A model whose
// forward returns something else (an imported ONNX model's logits) is seeded with a
// fixed cotangent: backward of <output, seed>.
#pragma once

#include <optional>

#include "aotgrad/autograd.h"
#include "aotgrad/compile.h"
#include "aotgrad/export.h"
#include "aotgrad/models.h"
#include "aotgrad/ops.h"
#include "aotgrad/optim.h"
#include "aotgrad/random.h"
#include "conformance/compiled_step.h"

namespace aotgrad::cli {

/// bench --batch N: the batch size the steps run at, and whether the graph is
/// exported at that size or once with a symbolic batch at the model's own size.
struct BenchBatch {
  int64_t size = 0;
  bool symbolic = false;
};

class BenchStep {
 public:
  static constexpr double kLearningRate = 0.01;

  /// With `compile_options`, exports and compiles the model's joint graph first.
  BenchStep(const models::ModelInfo& info, std::optional<compile::CompileOptions> compile_options,
            std::optional<BenchBatch> batch = std::nullopt)
      : inst_(models::instantiate(info)), sgd_(optim::parameters_of(*inst_.module), kLearningRate) {
    std::vector<exporting::DynamicDim> batch_dims;
    for (int64_t i = 0; i < static_cast<int64_t>(inst_.example.args.size()); ++i) batch_dims.push_back({i, 0});
    const models::Example at_model_size = inst_.example;
    if (batch) inst_.example = conformance::resized_example(inst_.example, batch_dims, batch->size, 3);
    if (compile_options) {
      // Stack traces are for reading graphs; symbolising them loads the binary's
      // debug info, which a training process does not need to hold.
      exporting::ExportOptions export_options;
      export_options.record_stack_traces = false;
      const bool symbolic = batch && batch->symbolic;
      if (symbolic) export_options.dynamic = batch_dims;
      const models::Example& traced = symbolic ? at_model_size : inst_.example;
      auto joint =
          exporting::aot_export_joint_with_descriptors(*inst_.module, traced.args, traced.kwargs, export_options);
      compiled_ = compile::aot_compile_joint_with_descriptors(joint, *compile_options);
    }
  }
  void run() {
    sgd_.zero_grad();
    pytree::Value out = compiled_ ? compiled_->call_module(*inst_.module, inst_.example.args, inst_.example.kwargs)
                                  : (*inst_.module)(inst_.example.args, inst_.example.kwargs);
    TensorList outs;
    for (const IValue& v : pytree::flatten(out).first) outs.push_back(v.to_tensor());
    if (seeds_.empty())
      for (const Tensor& o : outs) seeds_.push_back(o.dim() == 0 ? ones_like(o) : randn(o.sizes(), o.dtype(), &gen_));
    autograd::backward(outs, seeds_);
    sgd_.step();
  }
  const std::optional<compile::CompiledFunction>& compiled() const { return compiled_; }

 private:
  models::Instance inst_;
  optim::SGD sgd_;
  Generator gen_{5};
  TensorList seeds_;
  std::optional<compile::CompiledFunction> compiled_;
};

}  // namespace aotgrad::cli
