// Eager training of the digits MLP (64 -> 128 -> ReLU -> 10) with SGD + momentum.
#pragma once

#include <string>

namespace aotgrad::cli {

struct TrainResult {
  double test_accuracy = 0;
  double seconds = 0;
  int64_t steps = 0;
};

TrainResult train_digits_mlp(const std::string& data_file, int64_t epochs, bool quiet);

}  // namespace aotgrad::cli
