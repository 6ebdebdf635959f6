// What the training-step benchmarks share (bench --train-step, bench --parallel): the
// median of timings, the benchmark's AdamW, and a model's whole step with AdamW
// inside, exported, compiled and bound to the module.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
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

/// The benchmark models, or the one called `name` (bench_cmd.cpp).
std::vector<const models::ModelInfo*> benchmark_models(const std::string& name);

/// AdamW with lr 1e-3 and weight decay 0.01.
inline optim::UpdateRule bench_adamw() {
  return optim::UpdateRule::adam({1e-3, 0.9, 0.999, 1e-8, 0.01, true, false});
}

/// BENCHMARKS.md's optimizer: plain SGD, lr 0.01 (BenchStep's).
inline optim::UpdateRule bench_sgd() {
  optim::SGDOptions o;
  o.lr = 0.01;
  return optim::UpdateRule::sgd(o);
}

/// The whole step of `info` on its example batch with `rule` inside (the benchmark's
/// AdamW unless said), parallel as `parallel` says (data_parallel, fully_sharded;
/// neither: one process), bound for `rank`.
struct WholeStep {
  models::Instance inst;
  exporting::TrainStepGraph graph;
  exporting::TrainState state;
  std::optional<compile::CompiledTrainStep> step;
  explicit WholeStep(const models::ModelInfo& info, const exporting::ExportOptions& parallel = {}, int64_t rank = 0,
                     const optim::UpdateRule& rule = bench_adamw())
      : inst(models::instantiate(info)) {
    exporting::TrainStepOptions o;
    o.rule = rule;
    o.export_options.record_stack_traces = false;
    o.export_options.data_parallel = parallel.data_parallel;
    o.export_options.fully_sharded = parallel.fully_sharded;
    graph = exporting::aot_export_train_step(*inst.module, inst.example.args, o);
    state = exporting::TrainState::for_module(*inst.module, graph, rank);
    step = compile::aot_compile_train_step(graph);
  }
  void run() { (*step)(state, inst.example.args); }
  /// What the step keeps between steps (parameters, buffers, optimizer state) and the
  /// planned arena it runs in, in bytes.
  int64_t memory_bytes() const {
    int64_t bytes = step->stats().arena_bytes;
    for (size_t i = 0; i < state.keys.size(); ++i)
      if (state.keys[i].kind() != Descriptor::Kind::HyperparamInput)
        bytes += state.values[i].numel() * dtype_size(state.values[i].dtype());
    return bytes;
  }
};

}  // namespace aotgrad::cli
