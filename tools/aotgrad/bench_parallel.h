// bench --parallel ddp|fsdp, under mpirun: parallel training steps against one
// process, how much of the communication hid behind computation, and (fsdp) the
// memory per rank against ddp's.
#pragma once

#include <string>

#include "aotgrad/export.h"

namespace aotgrad::cli {

/// For `model` (empty: mlp_large and transformer_block): the whole AdamW step of one
/// process alone (the other ranks idle), then of every rank with the example batch
/// each under `parallel` (weak scaling), `steps` timed steps after 5 warm-up steps;
/// rank 0 prints the medians, the efficiency T(1)/T(N), the communication per step
/// and the memory per rank (state kept between steps + the step's planned arena, in
/// which the collectives' buffers live), under fsdp beside ddp's, in all and for
/// parameters, gradients and optimizer state alone ("pgs").
void print_parallel_bench(const std::string& model, int threads, int steps, const exporting::ExportOptions& parallel);

}  // namespace aotgrad::cli
