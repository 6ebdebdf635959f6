// What the training-step benchmarks share (bench --train-step, bench --parallel): the
// median of timings, the benchmark's AdamW, and a model's whole step with AdamW
// inside, exported, compiled and bound to the module.
#pragma once

#include <algorithm>
#include <optional>
#include <vector>

#include "aotgrad/compile.h"
#include "aotgrad/models.h"
#include "aotgrad/optim.h"
#include "aotgrad/train_step.h"

namespace aotgrad::cli {

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// AdamW with lr 1e-3 and weight decay 0.01.
inline optim::UpdateRule bench_adamw() {
  return optim::UpdateRule::adam({1e-3, 0.9, 0.999, 1e-8, 0.01, true, false});
}

/// The whole step of `info` on its example batch, gradients averaged across the ranks
/// when `data_parallel` is given.
struct WholeStep {
  models::Instance inst;
  exporting::TrainStepGraph graph;
  exporting::TrainState state;
  std::optional<compile::CompiledTrainStep> step;
  explicit WholeStep(const models::ModelInfo& info,
                     std::optional<exporting::DataParallelOptions> data_parallel = std::nullopt)
      : inst(models::instantiate(info)) {
    exporting::TrainStepOptions o;
    o.rule = bench_adamw();
    o.export_options.record_stack_traces = false;
    o.export_options.data_parallel = data_parallel;
    graph = exporting::aot_export_train_step(*inst.module, inst.example.args, o);
    state = exporting::TrainState::for_module(*inst.module, graph);
    step = compile::aot_compile_train_step(graph);
  }
  void run() { (*step)(state, inst.example.args); }
};

}  // namespace aotgrad::cli
