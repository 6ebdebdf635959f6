// aotgrad demo: the README's main job — export the conv_bn joint graph and print it,
// train digits_cnn through the compiled step (and eagerly, for the speed-up), and
// check every golden case against PyTorch, eagerly and through the compiled path.
#include <cstdio>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "aotgrad/export.h"
#include "aotgrad/models.h"
#include "commands.h"
#include "conformance/compiled_step.h"
#include "conformance/runner.h"
#include "train_loop.h"

namespace aotgrad::cli {

void add_demo_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("demo", "the main job: export a joint graph, train compiled, run the golden cases");
  cmd->callback([] {
    std::printf("== the joint forward+backward graph of conv_bn, with its descriptors\n");
    models::Instance inst = models::instantiate(models::find_model("conv_bn"));
    auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args);
    std::printf("%s", graph::print_readable(*joint.graph_module, graph::PrintFormat::Expanded).c_str());

    std::printf("\n== digits_cnn on the UCI digits data (SGD with momentum, 20 epochs)\n");
    const std::pair<StepKind, const char*> kinds[] = {{StepKind::Whole, "whole step compiled:"},
                                                      {StepKind::Joint, "compiled joint + eager SGD:"},
                                                      {StepKind::Eager, "eager:"}};
    TrainResult runs[3];
    for (size_t k = 0; k < 3; ++k) {
      TrainOptions o;
      o.model = "digits_cnn";
      o.data_file = AOTGRAD_DATA_DIR "/digits.csv.gz";
      o.step = kinds[k].first;
      o.quiet = true;
      TrainResult r = train_digits(o);
      std::printf("%-28s test accuracy %.2f %% after %lld steps in %.2f s (%.0f samples/s)%s\n", kinds[k].second,
                  100 * r.test_accuracy, static_cast<long long>(r.steps), r.seconds,
                  static_cast<double>(r.steps * o.batch) / r.seconds,
                  o.step != StepKind::Eager ? fmt::format("; export + compile {:.1f} ms", r.compile_ms).c_str() : "");
      runs[k] = r;
    }
    std::printf("whole compiled step: %.2fx the eager step's speed, accuracy %+.2f points\n",
                runs[2].seconds / runs[0].seconds, 100 * (runs[0].test_accuracy - runs[2].test_accuracy));

    std::printf("\n== higher-order ops\n");
    models::Instance region = models::instantiate(models::find_model("invoke_subgraph"));
    auto region_joint = exporting::aot_export_joint_with_descriptors(*region.module, region.example.args);
    auto groups = [](const graph::GraphModule& gm) {
      std::vector<std::string> out;
      for (const auto& g : exporting::get_ordered_seq_nr_groups(gm))
        out.push_back(fmt::format("{}", fmt::join(g, " ")));
      return fmt::format("[{}]", fmt::join(out, "] ["));
    };
    std::printf("invoke_subgraph: seq_nr groups %s; repeated_subgraph0 %s; repeated_subgraph1 %s\n",
                groups(*region_joint.graph_module).c_str(),
                groups(*region_joint.graph_module->subgraph("repeated_subgraph0")).c_str(),
                groups(*region_joint.graph_module->subgraph("repeated_subgraph1")).c_str());
    conformance::StepComparison flex = conformance::compare_compiled_step(models::find_model("flex_attention"));
    std::printf("flex_attention (block-causal over 2 documents, S 288): compiled step %s eager\n",
                flex.passed ? "matches" : "DIFFERS FROM");

    std::printf("\n== golden cases vs PyTorch (eager; joint graph; decomposed joint graph; compiled step)\n");
    int passed = 0, failed = 0;
    for (const std::string& file : conformance::golden_files({AOTGRAD_GOLDENS_DIR})) {
      conformance::GoldenCase c = conformance::load_golden(file);
      bool ok = conformance::check_eager(c).passed && conformance::check_joint(c).passed &&
                conformance::check_joint(c, true).passed && conformance::check_compiled(c).passed;
      std::printf("  %s %s\n", ok ? "PASS" : "FAIL", c.name.c_str());
      (ok ? passed : failed)++;
    }
    std::printf("%d passed, %d failed\n", passed, failed);
  });
}

}  // namespace aotgrad::cli
