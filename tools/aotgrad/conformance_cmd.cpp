// aotgrad conformance PATH…: run golden cases and end with "N passed, N failed".
#include <cstdio>
#include <functional>
#include <optional>

#include "aotgrad/onnx.h"
#include "commands.h"
#include "conformance/reference_model.h"
#include "conformance/runner.h"
#include "conformance/train_step_case.h"
#include "support/error.h"

namespace aotgrad::cli {

void add_conformance_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("conformance", "run golden cases (files or folders)");
  auto paths = std::make_shared<std::vector<std::string>>();
  cmd->add_option("paths", *paths, "golden .json files or folders of them")->required();
  auto onnx = std::make_shared<bool>(false);
  cmd->add_flag("--onnx", *onnx,
                "run each case through its imported ONNX file (onnx/<case>.onnx beside it), even where the model "
                "is built in");
  cmd->callback([paths, onnx] {
    int passed = 0, failed = 0;
    for (const std::string& file : conformance::golden_files(*paths)) {
      // Each file, and each check of it, is isolated: whatever goes wrong is that check's
      // failure, the rest still run and the summary line always prints.
      auto isolated = [&file](const std::function<conformance::CaseResult()>& check) -> conformance::CaseResult {
        try {
          return check();
        } catch (const Error& e) {
          return {file, false, e.what()};
        } catch (const std::exception& e) {
          return {file, false, std::string("internal error: ") + e.what()};
        }
      };
      if (conformance::is_reference_model_file(file)) {
        // A real model's ONNX file against PyTorch's numbers: eagerly and compiled.
        conformance::CaseResult eager = isolated([&] { return conformance::check_reference_model(file, false); });
        conformance::CaseResult compiled = isolated([&] { return conformance::check_reference_model(file, true); });
        const bool ok = eager.passed && compiled.passed;
        std::printf("%s %-22s %s; %s\n", ok ? "PASS" : "FAIL", eager.name.c_str(), eager.detail.c_str(),
                    compiled.detail.c_str());
        (ok ? passed : failed)++;
        continue;
      }
      if (conformance::is_train_step_file(file)) {
        // A whole training step: eagerly, through the graph, compiled.
        std::optional<conformance::TrainStepCase> c;
        std::vector<conformance::CaseResult> results;
        for (auto runner :
             {conformance::StepRunner::Eager, conformance::StepRunner::Graph, conformance::StepRunner::Compiled}) {
          results.push_back(isolated([&] {
            if (!c) c = conformance::load_train_step_case(file);
            return conformance::check_train_step(*c, runner);
          }));
        }
        bool ok = true;
        std::string details;
        for (const auto& res : results) {
          ok = ok && res.passed;
          details += (details.empty() ? "" : "; ") + res.detail;
        }
        std::printf("%s %-34s %s\n", ok ? "PASS" : "FAIL", c ? c->name.c_str() : file.c_str(), details.c_str());
        (ok ? passed : failed)++;
        continue;
      }
      std::optional<conformance::GoldenCase> c;
      const std::string onnx_file = conformance::onnx_file_for(file);
      if (*onnx || (!onnx_file.empty() && !conformance::has_builtin_model(file))) {
        // The imported model: eagerly, through its joint graph, compiled.
        std::optional<models::ModelInfo> model;
        std::vector<conformance::CaseResult> results;
        for (int check = 0; check < 3; ++check) {
          results.push_back(isolated([&] {
            if (!c) c = conformance::load_golden(file);
            AG_CHECK(!onnx_file.empty(), "no ONNX file for case '{}' (expected {})", c->name,
                     conformance::onnx_file_path(file));
            if (!model) model = onnx_io::model_info(onnx_file);
            if (check == 0) return conformance::check_eager(*c, &*model);
            if (check == 1) return conformance::check_joint(*c, false, &*model);
            return conformance::check_compiled(*c, {}, &*model);
          }));
        }
        const bool ok = results[0].passed && results[1].passed && results[2].passed;
        std::printf("%s %-22s onnx eager: %s; joint graph: %s; compiled: %s\n", ok ? "PASS" : "FAIL",
                    c ? c->name.c_str() : file.c_str(), results[0].detail.c_str(), results[1].detail.c_str(),
                    results[2].detail.c_str());
        (ok ? passed : failed)++;
        continue;
      }
      conformance::CaseResult eager = isolated([&] {
        c = conformance::load_golden(file);
        return conformance::check_eager(*c);
      });
      conformance::CaseResult joint = eager, prims = eager;
      if (c) {
        joint = isolated([&] { return conformance::check_joint(*c); });
        prims = isolated([&] { return conformance::check_joint(*c, /*decompose=*/true); });
      }
      const bool ok = eager.passed && joint.passed && prims.passed;
      std::printf("%s %-22s eager: %s; joint graph: %s; decomposed: %s\n", ok ? "PASS" : "FAIL", eager.name.c_str(),
                  eager.detail.c_str(), joint.detail.c_str(), prims.detail.c_str());
      (ok ? passed : failed)++;
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    std::fflush(stdout);
    if (failed) throw Error(ErrorKind::User, fmt::format("{} golden case(s) failed", failed));
  });
}

}  // namespace aotgrad::cli
