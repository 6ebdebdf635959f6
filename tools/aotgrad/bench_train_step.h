// Timing the whole training step of a benchmark model (bench --train-step).
#pragma once

#include <cstdint>

#include "aotgrad/models.h"

namespace aotgrad::cli {

struct TrainStepBench {
  double whole_ms = 0;            // median step: the whole step compiled as one graph (AdamW inside)
  double joint_ms = 0;            // median step: compiled joint graph, then eager AdamW
  double whole_optimizer_ms = 0;  // the whole step's optimizer kernels, per step
  double eager_optimizer_ms = 0;  // median eager AdamW.step()
  int64_t optimizer_bytes = 0;    // what one update must move: 7 floats per parameter element
  double copy_gbs_same_size = 0;  // memcpy moving the same bytes
  double copy_gbs_dram = 0;       // memcpy of 512 MiB (main memory)
  double compile_ms = 0;
};

/// AdamW (lr 1e-3, weight decay 0.01) both ways, `steps` timed steps each after 5
/// warm-up steps, alternating in rounds of 5; at the current thread count.
TrainStepBench bench_train_step(const models::ModelInfo& info, int steps);

}  // namespace aotgrad::cli
