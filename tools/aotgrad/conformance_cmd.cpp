// aotgrad conformance PATH…: run golden cases and end with "N passed, N failed".
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>

#include "aotgrad/onnx.h"
#include "commands.h"
#include "conformance/reference_model.h"
#include "conformance/runner.h"
#include "conformance/train_step_case.h"
#include "support/error.h"

namespace aotgrad::cli {

namespace {

using Check = std::function<conformance::CaseResult()>;

// Each check is isolated: whatever goes wrong is that check's failure, the rest still
// run and the summary line always prints.
conformance::CaseResult isolated(const std::string& file, const Check& check) {
  try {
    return check();
  } catch (const Error& e) {
    return {file, false, e.what()};
  } catch (const std::exception& e) {
    return {file, false, std::string("internal error: ") + e.what()};
  }
}

// Runs the labelled checks in order and prints one line for the file; true if all passed.
bool run_checks(const std::string& file, const std::function<std::string()>& name,
                const std::vector<std::pair<std::string, Check>>& checks) {
  bool ok = true;
  std::string details;
  for (const auto& [label, check] : checks) {
    conformance::CaseResult r = isolated(file, check);
    ok = ok && r.passed;
    details += (details.empty() ? "" : "; ") + label + r.detail;
  }
  std::printf("%s %-22s %s\n", ok ? "PASS" : "FAIL", name().c_str(), details.c_str());
  return ok;
}

// A real model's ONNX file against PyTorch's numbers: eagerly and compiled.
bool run_reference_model(const std::string& file) {
  return run_checks(file, [&] { return std::filesystem::path(file).stem().stem().string(); },
                    {{"", [&] { return conformance::check_reference_model(file, false); }},
                     {"", [&] { return conformance::check_reference_model(file, true); }}});
}

// A whole training step: eagerly, through the graph, compiled.
bool run_train_step_case(const std::string& file) {
  std::optional<conformance::TrainStepCase> c;
  auto check = [&](conformance::StepRunner runner) -> Check {
    return [&c, &file, runner] {
      if (!c) c = conformance::load_train_step_case(file);
      return conformance::check_train_step(*c, runner);
    };
  };
  return run_checks(file, [&] { return c ? c->name : file; },
                    {{"", check(conformance::StepRunner::Eager)},
                     {"", check(conformance::StepRunner::Graph)},
                     {"", check(conformance::StepRunner::Compiled)}});
}

// A golden case through its imported ONNX file: eagerly, through its joint graph, compiled.
bool run_onnx_case(const std::string& file, const std::string& onnx_file) {
  std::optional<conformance::GoldenCase> c;
  std::optional<models::ModelInfo> model;
  auto prepare = [&] {
    if (!c) c = conformance::load_golden(file);
    AG_CHECK(!onnx_file.empty(), "no ONNX file for case '{}' (expected {})", c->name,
             conformance::onnx_file_path(file));
    if (!model) model = onnx_io::model_info(onnx_file);
  };
  return run_checks(file, [&] { return c ? c->name : file; },
                    {{"onnx eager: ", [&] { return prepare(), conformance::check_eager(*c, &*model); }},
                     {"joint graph: ", [&] { return prepare(), conformance::check_joint(*c, false, &*model); }},
                     {"compiled: ", [&] { return prepare(), conformance::check_compiled(*c, {}, &*model); }}});
}

// A golden case through its built-in model: eagerly, through the joint graph, decomposed.
bool run_builtin_case(const std::string& file) {
  std::optional<conformance::GoldenCase> c;
  auto loaded = [&] {
    if (!c) c = conformance::load_golden(file);
    return *c;
  };
  return run_checks(file, [&] { return c ? c->name : file; },
                    {{"eager: ", [&] { return conformance::check_eager(loaded()); }},
                     {"joint graph: ", [&] { return conformance::check_joint(loaded()); }},
                     {"decomposed: ", [&] { return conformance::check_joint(loaded(), /*decompose=*/true); }}});
}

}  // namespace

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
      const std::string onnx_file = conformance::onnx_file_for(file);
      bool ok = false;
      if (conformance::is_reference_model_file(file))
        ok = run_reference_model(file);
      else if (conformance::is_train_step_file(file))
        ok = run_train_step_case(file);
      else if (*onnx || (!onnx_file.empty() && !conformance::has_builtin_model(file)))
        ok = run_onnx_case(file, onnx_file);
      else
        ok = run_builtin_case(file);
      (ok ? passed : failed)++;
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    std::fflush(stdout);
    if (failed) throw Error(ErrorKind::User, fmt::format("{} golden case(s) failed", failed));
  });
}

}  // namespace aotgrad::cli
