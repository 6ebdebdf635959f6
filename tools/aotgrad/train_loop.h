// Training a built-in digits model on the UCI digits data, through the compiled
// training step (the default) or eagerly.
#pragma once

#include <cstdint>
#include <string>

#include "aotgrad/compile.h"

namespace aotgrad::cli {

struct TrainOptions {
  std::string model = "digits_mlp";
  std::string data_file;
  int64_t epochs = 20;
  int64_t max_steps = 0;  // 0: no limit
  int64_t batch = 64;
  double lr = 0.05, momentum = 0.9;
  bool quiet = false;
  /// Run the model's forward and backward through aot_compile_joint_with_descriptors.
  bool compiled = true;
  compile::CompileOptions compile_options;
};

struct TrainResult {
  double test_accuracy = 0;
  double seconds = 0;
  int64_t steps = 0;
  double final_loss = 0;
  double compile_ms = 0;  // export + compile, when compiled
};

/// Splits the data 80/20 (seed 0), trains with SGD + momentum on shuffled mini-batches,
/// prints a progress line (step, loss, samples/s) unless quiet, and evaluates the test
/// split in eval mode (eagerly: the compiled graph is the training-mode one).
TrainResult train_digits(const TrainOptions& options);

}  // namespace aotgrad::cli
