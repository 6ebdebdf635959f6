// bench --parallel ddp, under mpirun: data-parallel training steps against one
// process, and how much of the communication hid behind computation.
#pragma once

#include <string>

#include "aotgrad/parallel.h"

namespace aotgrad::cli {

/// For `model` (empty: mlp_large and transformer_block): the whole AdamW step of one
/// process alone (the other ranks idle), then of every rank with the example batch
/// each and the gradients averaged (weak scaling), `steps` timed steps after 5
/// warm-up steps; rank 0 prints the medians, the efficiency T(1)/T(N) and the
/// communication per step.
void print_parallel_bench(const std::string& model, int threads, int steps,
                          const exporting::DataParallelOptions& options);

}  // namespace aotgrad::cli
