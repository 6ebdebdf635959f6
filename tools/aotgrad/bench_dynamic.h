// bench --batch N: the benchmark models' compiled step at batch N, exported at that
// size against exported once with a symbolic batch (docs/SYMBOLIC_SHAPES.md).
#pragma once

#include <string>

#include "aotgrad/compile.h"

namespace aotgrad::cli {

void print_batch_bench(const std::string& model, int64_t batch, int threads, int steps, bool json,
                       const compile::CompileOptions& options);

}  // namespace aotgrad::cli
