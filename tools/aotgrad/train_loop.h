// Training a built-in digits model on the UCI digits data: by default through the
// whole training step compiled as one graph (docs/TRAIN_STEP.md), or through the
// compiled joint graph with the eager optimizer, or eagerly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "aotgrad/compile.h"
#include "aotgrad/models.h"
#include "aotgrad/optim.h"
#include "aotgrad/train_step.h"

namespace aotgrad::cli {

enum class StepKind {
  Whole,  // aot_export_train_step + aot_compile_train_step
  Joint,  // aot_compile_joint_with_descriptors, then the eager optimizer
  Eager,  // the module, autograd and the eager optimizer
};

struct TrainOptions {
  std::string model = "digits_mlp";
  /// The model when it is not built in (an ONNX file: `train --onnx`); overrides `model`.
  std::optional<models::ModelInfo> info;
  /// The loss appended to the model's output: CrossEntropy on the labels, or Mse on
  /// their one-hot encoding.
  exporting::LossKind loss = exporting::LossKind::CrossEntropy;
  /// Where to write an imported model back, with its trained initializers (.onnx).
  std::string save_onnx_path;
  std::string data_file;
  int64_t epochs = 20;
  int64_t max_steps = 0;  // stop when this many steps are done in all (0: no limit)
  int64_t batch = 64;
  /// One compiled step for every batch size (docs/SYMBOLIC_SHAPES.md): the epoch's
  /// last, smaller batch is trained on too. Off for imported models (their files fix
  /// the batch size) and under --parallel (every rank takes an equal share).
  bool dynamic_batch = false;
  bool drop_last = false;  // --drop-last: never dynamic
  optim::UpdateRule rule = optim::UpdateRule::sgd({0.05, 0.9, 0, 0, false, false});
  std::optional<double> clip_max_norm;
  StepKind step = StepKind::Whole;
  bool quiet = false;
  compile::CompileOptions compile_options;
  /// Checkpoints (whole-step training): written at the end, read before the first step.
  std::string save_path, resume_path;
  /// Data-parallel across the ranks of an mpirun job: each rank trains on its `batch`
  /// rows of every global batch of batch x ranks, gradients averaged (whole step only).
  std::optional<exporting::DataParallelOptions> data_parallel;
  /// Fully-sharded instead: the parameters, gradients and optimizer state sharded
  /// across the ranks (world_size is set to the job's).
  std::optional<exporting::FullyShardedOptions> fully_sharded;
  bool parallel() const { return data_parallel || fully_sharded; }
};

struct TrainResult {
  double test_accuracy = 0;
  double seconds = 0;
  int64_t steps = 0;         // steps done in all, a resumed run's included
  int64_t resumed_from = 0;  // steps the checkpoint had done
  double final_loss = 0;
  double compile_ms = 0;         // export + compile, when compiled
  int64_t traces = 0;            // exports the training made (one, when compiled)
  int64_t sizes_compiled = 0;    // batch sizes its one compiled step was compiled for
  int rank = 0, world_size = 1;  // of the mpirun job (one process: 0 of 1)
};

/// Trains a digits classifier: a built-in one, or an imported model taking [B, 64]
/// images (B its declared batch) and giving [B, 10] logits.
/// Splits the data 80/20 (seed 0), trains on mini-batches shuffled per epoch (a fixed
/// seed, so a resumed run sees the batches an uninterrupted one would), prints a
/// progress line (step, loss, samples/s) unless quiet, and evaluates the test split in
/// eval mode (eagerly: the compiled graph is the training-mode one).
TrainResult train_digits(const TrainOptions& options);

}  // namespace aotgrad::cli
