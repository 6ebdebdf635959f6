// Whole-training-step golden cases (tests/goldens/train_steps, format in its
// README): a built-in model, an optimizer configuration, and three steps made with
// PyTorch, each with its batch, loss, gradients, and the parameters, buffers and
// optimizer state after it. Read as untrusted input, like every golden file.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aotgrad/compile.h"
#include "aotgrad/optim.h"
#include "aotgrad/train_step.h"
#include "conformance/runner.h"

namespace aotgrad::conformance {

struct TrainStepCase {
  std::string path, name, model, optimizer_name;
  nn::NamedTensors params, buffers;
  optim::UpdateRule rule = optim::UpdateRule::sgd({});
  std::optional<double> clip_max_norm;
  exporting::LossKind loss = exporting::LossKind::ModelOutput;

  struct Step {
    TensorList inputs;  // the module's positional inputs
    Tensor target;      // the MSE target (undefined for a model-output loss)
    Tensor loss;
    nn::NamedTensors grads;  // before clipping
    Tensor grad_norm;        // with clipping only
    nn::NamedTensors params_after, buffers_after;
    /// Optimizer state after the step: (parameter, key, value).
    std::vector<std::tuple<std::string, std::string, Tensor>> state_after;
  };
  std::vector<Step> steps;

  double rtol = 1e-4, atol = 1e-5;
  /// Entries whose value float32 rounding decides (the README's noise_dominated list).
  struct NoiseEntry {
    std::string field, name;
    std::vector<int64_t> steps;  // 1-based
    std::vector<double> atol;    // per listed step
  };
  std::vector<NoiseEntry> noise;
  /// The atol for `field` of `name` at 1-based step `step`.
  double atol_for(const std::string& field, const std::string& name, int64_t step) const;
};

/// Whether a golden document is a train-step case (it has "steps" and "optimizer").
bool is_train_step_document(std::string_view text);
/// The same for a file (false if it cannot be read: the ordinary loader says why).
bool is_train_step_file(const std::string& path);
TrainStepCase load_train_step_case(const std::string& path);
TrainStepCase parse_train_step_text(std::string_view text, const std::string& path);

/// How a train-step case is run.
enum class StepRunner {
  Eager,     // the module, autograd and the eager optimizer, step by step
  Graph,     // the exported whole-step graph through the interpreter
  Compiled,  // the whole-step graph compiled (aot_compile_train_step)
};
const char* step_runner_name(StepRunner runner);

/// Runs the case's three steps and compares, after each: the loss, the gradients
/// (eager: the whole-step graph keeps them inside), the clipping norm, and every
/// parameter, buffer and optimizer state with the case's tolerances.
CaseResult check_train_step(const TrainStepCase& c, StepRunner runner, const compile::CompileOptions& options = {});

}  // namespace aotgrad::conformance
