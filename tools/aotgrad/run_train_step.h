// aotgrad run --train-step: the whole training step of a built-in model, compiled.
#pragma once

#include "aotgrad/compile.h"
#include "aotgrad/models.h"
#include "optimizer_flags.h"

namespace aotgrad::cli {

/// Compiles the model's whole training step, runs one step and prints what the program
/// does; --check compares the step with the eager module and optimizer, --profile N
/// times N more steps kernel by kernel (with each kernel's phase: "optimizer", …).
void run_train_step(const models::ModelInfo& info, const OptimizerFlags& optimizer,
                    const compile::CompileOptions& options, bool check, int profile_steps);

// Shared with `run` (run_cmd.cpp).
void print_stats(const char* which, const compile::ProgramStats& s);
void print_kernel_table(compile::KernelProfile prof, int steps, double wall_ms);

}  // namespace aotgrad::cli
