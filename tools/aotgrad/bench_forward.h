// `aotgrad bench --forward`: inference (no gradients) of a model, eager and compiled,
// the numbers bench/compare_onnxruntime.sh puts beside ONNX Runtime's.
#pragma once

#include <vector>

#include "aotgrad/compile.h"
#include "aotgrad/models.h"

namespace aotgrad::cli {

struct ForwardBench {
  double eager_ms = 0, compiled_ms = 0, compile_ms = 0;
};

/// Median forward times over `steps` calls (after warm-up) of the model's example, with
/// nothing requiring grad: eagerly, and through the compiled forward-only graph.
ForwardBench bench_forward(const models::ModelInfo& info, int steps, const compile::CompileOptions& options);

/// One line (or JSON object) per thread count.
void print_forward_bench(const models::ModelInfo& info, const std::vector<int>& threads, int steps, bool json,
                         const compile::CompileOptions& options);

}  // namespace aotgrad::cli
