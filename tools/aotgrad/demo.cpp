// aotgrad demo: the README's main job. For now: eager training of both digits models.
#include <cstdio>

#include "commands.h"
#include "train_loop.h"

namespace aotgrad::cli {

void add_demo_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo", "the main job: train the digits models and report accuracy");
  cmd->callback([] {
    for (const char* model : {"digits_mlp", "digits_cnn"}) {
      TrainOptions o;
      o.model = model;
      o.data_file = AOTGRAD_DATA_DIR "/digits.csv.gz";
      std::printf("== %s on the UCI digits data (eager autograd, SGD with momentum)\n", model);
      TrainResult r = train_digits(o);
      std::printf("%s: test accuracy %.2f %% after %lld steps in %.2f s\n", model,
                  100 * r.test_accuracy, static_cast<long long>(r.steps), r.seconds);
    }
  });
}

}  // namespace aotgrad::cli
