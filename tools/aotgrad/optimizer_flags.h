// The optimizer and loss flags `export --train-step` and `train` share.
#pragma once

#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "aotgrad/models.h"
#include "aotgrad/train_step.h"

namespace aotgrad::cli {

struct OptimizerFlags {
  static constexpr double kUnset = std::numeric_limits<double>::quiet_NaN();
  std::string optimizer = "sgd";
  double lr = kUnset, momentum = kUnset, dampening = 0, weight_decay = kUnset;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, clip_grad_norm = kUnset;
  bool nesterov = false, maximize = false;
  std::string loss = "auto";

  /// The rule the flags describe; unset values take torch.optim's defaults, except SGD's
  /// lr and momentum, which default to `sgd_lr` and `sgd_momentum` (the command's own).
  optim::UpdateRule rule(double sgd_lr, double sgd_momentum) const;
  std::optional<double> clip() const;
  /// "sgd lr 0.05 momentum 0.9", for progress lines.
  std::string describe(double sgd_lr, double sgd_momentum) const;
};

/// A built-in model's loss and a batch shaped like its example. --loss auto picks the
/// model's own loss when its forward returns one (a 0-d float), cross_entropy for the
/// digits classifiers and mse otherwise; a target (seeded) ends the batch when the
/// loss takes one.
struct StepBatch {
  exporting::LossKind loss;
  nn::Args batch;
};
StepBatch step_batch_for(const models::ModelInfo& info, models::Instance& inst, const std::string& loss);

/// Registers the flags on `cmd`.
std::shared_ptr<OptimizerFlags> add_optimizer_flags(CLI::App* cmd);

}  // namespace aotgrad::cli
