// `aotgrad bench --forward`: inference (no gradients) of a model, eager and compiled,
// the numbers bench/compare_onnxruntime.sh puts beside ONNX Runtime's.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "aotgrad/compile.h"
#include "aotgrad/models.h"

namespace aotgrad::cli {

struct ForwardBench {
  double eager_ms = 0, compiled_ms = 0, compile_ms = 0;
  /// Note [Batch shares]: how many programs the compiled forward ran the batch in, and
  /// why one alone where it could not be split.
  int64_t batch_shares = 1;
  std::string why_no_batch_shares;
  /// With a profile asked for: each graph node's median time over the steps, slowest
  /// first (kernel label and node, milliseconds).
  std::vector<std::pair<std::string, double>> node_ms;
};

/// Median forward times over `steps` calls (after warm-up) of the model's example, with
/// nothing requiring grad: eagerly, and through the compiled forward-only graph; with
/// `profile`, `steps` more compiled calls timed node by node.
ForwardBench bench_forward(const models::ModelInfo& info, int steps, const compile::CompileOptions& options,
                           bool profile = false);

/// One line (or JSON object) per thread count; with `profile`, each followed by the
/// per-node medians.
void print_forward_bench(const models::ModelInfo& info, const std::vector<int>& threads, int steps, bool json,
                         const compile::CompileOptions& options, bool profile = false);

}  // namespace aotgrad::cli
