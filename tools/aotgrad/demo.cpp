// aotgrad demo: the README's main job. For now: eager training of the digits MLP.
#include <cstdio>

#include "commands.h"
#include "train_mlp.h"

namespace aotgrad::cli {

void add_demo_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo", "the main job: train digits_mlp eagerly and report accuracy");
  cmd->callback([] {
    std::printf("Training digits_mlp (64-128-10, SGD with momentum) on the UCI digits data, eager autograd\n");
    TrainResult r = train_digits_mlp(AOTGRAD_DATA_DIR "/digits.csv.gz", 20, false);
    std::printf("test accuracy %.2f %% after %lld steps in %.2f s\n", 100 * r.test_accuracy,
                static_cast<long long>(r.steps), r.seconds);
  });
}

}  // namespace aotgrad::cli
