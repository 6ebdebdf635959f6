// aotgrad conformance PATH…: run golden cases and end with "N passed, N failed".
#include <cstdio>

#include "commands.h"
#include "conformance/runner.h"
#include "support/error.h"

namespace aotgrad::cli {

void add_conformance_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("conformance", "run golden cases (files or folders)");
  auto paths = std::make_shared<std::vector<std::string>>();
  cmd->add_option("paths", *paths, "golden .json files or folders of them")->required();
  cmd->callback([paths] {
    int passed = 0, failed = 0;
    for (const std::string& file : conformance::golden_files(*paths)) {
      conformance::CaseResult eager, joint, prims;
      try {
        conformance::GoldenCase c = conformance::load_golden(file);
        eager = conformance::check_eager(c);
        joint = conformance::check_joint(c);
        prims = conformance::check_joint(c, /*decompose=*/true);
      } catch (const Error& e) {
        eager = joint = prims = {file, false, e.what()};
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
