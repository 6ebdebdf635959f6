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
      conformance::CaseResult r;
      try {
        r = conformance::check_eager(conformance::load_golden(file));
      } catch (const Error& e) {
        r = {file, false, e.what()};
      }
      std::printf("%s %-22s eager: %s\n", r.passed ? "PASS" : "FAIL", r.name.c_str(),
                  r.detail.c_str());
      (r.passed ? passed : failed)++;
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    std::fflush(stdout);
    if (failed) throw Error(ErrorKind::User, fmt::format("{} golden case(s) failed", failed));
  });
}

}  // namespace aotgrad::cli
