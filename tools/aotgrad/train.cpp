// aotgrad train: train a built-in digits model on the UCI digits data (compiled step by default).
#include <cstdio>

#include "commands.h"
#include "compile_flags.h"
#include "support/error.h"
#include "support/parallel.h"
#include "train_loop.h"

namespace aotgrad::cli {

void add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "train a built-in model on the digits data");
  auto opts = std::make_shared<TrainOptions>();
  opts->data_file = AOTGRAD_DATA_DIR "/digits.csv.gz";
  auto data = std::make_shared<std::string>("digits");
  auto threads = std::make_shared<int>(0);
  auto eager = std::make_shared<bool>(false);
  cmd->add_option("--model", opts->model, "digits_mlp or digits_cnn")->capture_default_str();
  cmd->add_option("--data", *data, "data set (digits)")->capture_default_str();
  cmd->add_option("--data-file", opts->data_file, "path of digits.csv.gz")->capture_default_str();
  cmd->add_option("--epochs", opts->epochs, "passes over the training split")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--steps", opts->max_steps, "stop after this many steps (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", *threads, "worker threads (default: all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--eager", *eager, "run the eager module instead of the compiled training step");
  auto flags = add_compile_flags(cmd);
  cmd->callback([=] {
    AG_CHECK(*data == "digits", "train: unknown data set '{}' (known: digits)", *data);
    if (*threads > 0) set_num_threads(*threads);
    opts->compiled = !*eager;
    opts->compile_options = flags->options();
    std::printf("training %s (%s) on the UCI digits data (80/20 split), SGD lr %g momentum %g, batch %lld\n",
                opts->model.c_str(), *eager ? "eager" : "compiled step", opts->lr, opts->momentum,
                static_cast<long long>(opts->batch));
    TrainResult r = train_digits(*opts);
    std::printf("%s: test accuracy %.2f %% after %lld steps in %.2f s (final loss %.4f)\n", opts->model.c_str(),
                100 * r.test_accuracy, static_cast<long long>(r.steps), r.seconds, r.final_loss);
  });
}

}  // namespace aotgrad::cli
