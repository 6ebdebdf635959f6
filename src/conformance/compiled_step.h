// One training step of a built-in model, eager and compiled, compared tensor by
// tensor (what `aotgrad run --check` prints).
#pragma once

#include <string>
#include <vector>

#include "aotgrad/compile.h"
#include "aotgrad/models.h"

namespace aotgrad::conformance {

struct TensorDiff {
  std::string what;  // "output 0", "grad 'fc1.weight'", "buffer 'bn.running_mean'"
  double max_abs_diff = 0;
  bool ok = false;  // within atol + rtol * |eager|
};

struct StepComparison {
  std::vector<TensorDiff> diffs;
  bool passed = false;
  std::string problem;  // what failed besides a difference (a missing gradient, say)
  double compile_ms = 0;
  compile::ProgramStats forward, backward;
};

/// The same with one compiled function for many sizes: the step at `inputs` (the
/// model's example resized), eager on a fresh instance against `f` on another.
StepComparison compare_compiled_step_at(const models::ModelInfo& info, const compile::CompiledFunction& f,
                                        const models::Example& inputs, double rtol = 1e-4, double atol = 1e-5);

/// The model's example with dims resized: each (input, dim) in `dims` set to `size`.
/// New float data is normal, new integer data drawn from the example's own range
/// (class labels stay valid).
models::Example resized_example(const models::Example& example, const std::vector<exporting::DynamicDim>& dims,
                                int64_t size, uint64_t seed);

/// Builds the model twice with the same seed; one instance runs its forward and
/// backward eagerly, the other exports its joint graph, compiles it and runs the
/// compiled step. The backward seeds every floating output with ones. Compares
/// outputs, the gradients of parameters and of inputs that require grad, and buffers.
/// With `decompose`, the joint graph is exported with the default decomposition
/// table (prims), so the compiled programs run the lowered ops.
StepComparison compare_compiled_step(const models::ModelInfo& info, const compile::CompileOptions& options = {},
                                     bool decompose = false, double rtol = 1e-4, double atol = 1e-5);

}  // namespace aotgrad::conformance
