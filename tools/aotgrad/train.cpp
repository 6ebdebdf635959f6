// aotgrad train: train a built-in model on real data (eager for now).
#include <cstdio>

#include "commands.h"
#include "support/error.h"
#include "train_mlp.h"

namespace aotgrad::cli {

void add_train_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "train a built-in model on the digits data");
  auto model = std::make_shared<std::string>("digits_mlp");
  auto data = std::make_shared<std::string>("digits");
  auto file = std::make_shared<std::string>(AOTGRAD_DATA_DIR "/digits.csv.gz");
  auto epochs = std::make_shared<int64_t>(20);
  cmd->add_option("--model", *model, "model name (digits_mlp)");
  cmd->add_option("--data", *data, "data set (digits)");
  cmd->add_option("--data-file", *file, "path of digits.csv.gz");
  cmd->add_option("--epochs", *epochs, "passes over the training set")->check(CLI::PositiveNumber);
  cmd->callback([=] {
    AG_CHECK(*data == "digits", "train: unknown data set '{}' (known: digits)", *data);
    AG_CHECK(*model == "digits_mlp", "train: model '{}' cannot be trained yet (known: digits_mlp)", *model);
    TrainResult r = train_digits_mlp(*file, *epochs, false);
    std::printf("%s: test accuracy %.2f %% after %lld steps in %.2f s\n", model->c_str(),
                100 * r.test_accuracy, static_cast<long long>(r.steps), r.seconds);
  });
}

}  // namespace aotgrad::cli
