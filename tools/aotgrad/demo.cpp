// aotgrad demo: the README's main job — train the digits models eagerly, then show the
// joint graph of an annotated model and check every golden case against PyTorch.
#include <cstdio>

#include "aotgrad/export.h"
#include "aotgrad/models.h"
#include "commands.h"
#include "conformance/runner.h"
#include "train_loop.h"

namespace aotgrad::cli {

void add_demo_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo", "the main job: train, export a joint graph, run the golden cases");
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

    std::printf("\n== the joint forward+backward graph of annotated_function (compact form)\n");
    models::Instance inst = models::instantiate(models::find_model("annotated_function"));
    auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args);
    std::printf("%s", graph::print_readable(*joint.graph_module, graph::PrintFormat::Compact).c_str());

    std::printf("\n== golden cases (eager, joint graph, decomposed joint graph vs PyTorch)\n");
    int passed = 0, failed = 0;
    for (const std::string& file : conformance::golden_files({AOTGRAD_GOLDENS_DIR})) {
      conformance::GoldenCase c = conformance::load_golden(file);
      bool ok = conformance::check_eager(c).passed && conformance::check_joint(c).passed &&
                conformance::check_joint(c, true).passed;
      std::printf("  %s %s\n", ok ? "PASS" : "FAIL", c.name.c_str());
      (ok ? passed : failed)++;
    }
    std::printf("%d passed, %d failed\n", passed, failed);
  });
}

}  // namespace aotgrad::cli
