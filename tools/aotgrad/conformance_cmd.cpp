// aotgrad conformance PATH…: run golden cases and end with "N passed, N failed".
#include <cstdio>
#include <functional>
#include <optional>

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
      std::optional<conformance::GoldenCase> c;
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
