// aotgrad train: train a built-in digits model on the UCI digits data (compiled step by default).
#include <cstdio>

#include "aotgrad/dist.h"
#include "commands.h"
#include "compile_flags.h"
#include "model_flags.h"
#include "optimizer_flags.h"
#include "parallel_flags.h"
#include "support/error.h"
#include "support/parallel.h"
#include "train_loop.h"

namespace aotgrad::cli {

// The model (built in or --onnx), its loss, and what --save writes: an imported
// model's FILE.onnx is the model itself, anything else a checkpoint.
static void choose_model(const ModelFlags& model_flags, const OptimizerFlags& optimizer, const std::string& save,
                         TrainOptions& opts) {
  if (!model_flags.onnx.empty()) {
    ModelFlags flags = model_flags;
    flags.batch = opts.batch;  // the size an open batch dim is traced at
    opts.info = flags.resolve();
    opts.model = opts.info->name;
  } else if (!model_flags.model.empty()) {
    opts.model = model_flags.model;
  }
  AG_CHECK(optimizer.loss == "auto" || optimizer.loss == "cross_entropy" || optimizer.loss == "mse",
           "train: the digits data trains with cross_entropy or mse (got --loss {})", optimizer.loss);
  opts.loss = optimizer.loss == "mse" ? exporting::LossKind::Mse : exporting::LossKind::CrossEntropy;
  const bool onnx_out = save.size() > 5 && save.compare(save.size() - 5, 5, ".onnx") == 0;
  AG_CHECK(!onnx_out || opts.info, "train: --save {}: only an imported model (--onnx) is written as ONNX", save);
  (onnx_out ? opts.save_onnx_path : opts.save_path) = save;
}

// What --parallel does here: across the ranks of mpirun, or as one process.
static void print_parallel_banner(const std::string& how, int64_t batch) {
  const dist::Job& job = dist::Job::join();
  if (!job.launched_by_mpirun())
    std::printf("--parallel %s without mpirun: training as one process\n", how.c_str());
  else
    std::printf("%s (%s) on %d rank(s) of mpirun, batch %lld per rank\n",
                how == "fsdp" ? "fully-sharded" : "data-parallel", how.c_str(), job.world_size(),
                static_cast<long long>(batch));
}

namespace {
// --epochs, --steps, --batch, --drop-last: how the data is walked.
void add_loop_flags(CLI::App* cmd, TrainOptions& opts) {
  cmd->add_option("--epochs", opts.epochs, "passes over the training split")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--steps", opts.max_steps, "stop after this many steps (0: no limit)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch", opts.batch, "samples per step (with --parallel: per rank)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--drop-last", opts.drop_last,
                "skip each epoch's last, smaller batch (and export for one batch size) instead of training on it");
}
}  // namespace

void add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "train a built-in model on the digits data");
  auto opts = std::make_shared<TrainOptions>();
  opts->data_file = AOTGRAD_DATA_DIR "/digits.csv.gz";
  auto data = std::make_shared<std::string>("digits");
  auto threads = std::make_shared<int>(0);
  auto eager = std::make_shared<bool>(false);
  auto model_flags = add_model_flags(cmd, "digits_mlp (the default) or digits_cnn");
  cmd->add_option("--data", *data, "data set (digits)")->capture_default_str();
  cmd->add_option("--data-file", opts->data_file, "path of digits.csv.gz")->capture_default_str();
  add_loop_flags(cmd, *opts);
  cmd->add_option("--threads", *threads, "worker threads (default: all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--eager", *eager, "run the eager module and optimizer instead of a compiled step");
  auto step = std::make_shared<std::string>("whole");
  cmd->add_option("--step", *step,
                  "whole: the training step as one compiled graph; joint: the compiled joint graph and the eager "
                  "optimizer")
      ->check(CLI::IsMember({"whole", "joint"}))
      ->capture_default_str();
  auto save = std::make_shared<std::string>();
  cmd->add_option("--save", *save,
                  "write a checkpoint here at the end (atomically); with --onnx, FILE.onnx writes the trained model "
                  "back as ONNX");
  cmd->add_option("--resume", opts->resume_path, "start from this checkpoint (the steps it did are skipped)");
  auto optimizer = add_optimizer_flags(cmd);
  auto flags = add_compile_flags(cmd);
  auto parallel = add_parallel_flags(cmd);
  cmd->callback([=] {
    AG_CHECK(*data == "digits", "train: unknown data set '{}' (known: digits)", *data);
    if (*threads > 0) set_num_threads(*threads);
    choose_model(*model_flags, *optimizer, *save, *opts);
    opts->step = *eager ? StepKind::Eager : *step == "joint" ? StepKind::Joint : StepKind::Whole;
    opts->rule = optimizer->rule(0.05, 0.9);
    opts->clip_max_norm = optimizer->clip();
    opts->compile_options = flags->options();
    opts->data_parallel = parallel->data_parallel();
    opts->fully_sharded = parallel->fully_sharded(1);  // train_digits sets the job's size
    const bool lead = !opts->parallel() || dist::Job::join().rank() == 0;
    if (opts->parallel() && lead) print_parallel_banner(parallel->parallel, opts->batch);
    const char* how = opts->step == StepKind::Eager   ? "eager"
                      : opts->step == StepKind::Joint ? "compiled joint graph, eager optimizer"
                                                      : "whole step compiled";
    if (lead)
      std::printf("training %s (%s) on the UCI digits data (80/20 split), %s, %s loss\n", opts->model.c_str(), how,
                  optimizer->describe(0.05, 0.9).c_str(), exporting::loss_kind_name(opts->loss));
    TrainResult r = train_digits(*opts);
    if (!lead) return;
    if (!opts->save_onnx_path.empty()) std::printf("wrote %s\n", opts->save_onnx_path.c_str());
    if (r.resumed_from > 0) std::printf("resumed from step %lld\n", static_cast<long long>(r.resumed_from));
    std::printf("%s: test accuracy %.2f %% after %lld steps in %.2f s (final loss %.4f)\n", opts->model.c_str(),
                100 * r.test_accuracy, static_cast<long long>(r.steps), r.seconds, r.final_loss);
    if (r.sizes_compiled > 0)
      std::printf("one export (%lld trace(s)), its compiled step serving %lld batch size(s)\n",
                  static_cast<long long>(r.traces), static_cast<long long>(r.sizes_compiled));
  });
}

}  // namespace aotgrad::cli
