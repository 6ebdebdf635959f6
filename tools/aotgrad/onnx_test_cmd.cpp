// aotgrad onnx-test DIR…: ONNX's backend test suite through the importer, with
// passed / failed / unsupported counts per folder.
#include <cstdio>
#include <map>

#include "aotgrad/onnx.h"
#include "aotgrad/onnx_backend_test.h"
#include "commands.h"
#include "support/error.h"

namespace aotgrad::cli {

void add_onnx_test_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("onnx-test", "run ONNX's backend tests (folders of model.onnx + test_data_set_*)");
  auto paths = std::make_shared<std::vector<std::string>>();
  auto list = std::make_shared<bool>(false);
  auto min_passed = std::make_shared<int>(0);
  cmd->add_option("paths", *paths, "test folders, or folders of them (e.g. /usr/share/libonnx-testdata/data/node)")
      ->required();
  cmd->add_flag("--list", *list, "print every test that did not pass, with the reason");
  cmd->add_option("--min-passed", *min_passed, "fail unless at least this many tests pass in all")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([=] {
    using Status = onnx_io::BackendTestResult::Status;
    int total_passed = 0, total_failed = 0;
    std::map<std::string, int> unsupported_ops;
    for (const std::string& path : *paths) {
      int passed = 0, failed = 0, unsupported = 0;
      for (const std::string& dir : onnx_io::backend_test_dirs(path)) {
        onnx_io::BackendTestResult r = onnx_io::run_backend_test(dir);
        (r.status == Status::Passed ? passed : r.status == Status::Failed ? failed : unsupported)++;
        if (r.status == Status::Unsupported && r.reason.rfind("unsupported op type ", 0) == 0) {
          const std::string op = r.reason.substr(20, r.reason.find(' ', 20) - 20);
          unsupported_ops[op]++;
        }
        if (*list && r.status != Status::Passed) {
          std::string reason = r.reason;
          for (char& c : reason)
            if (c == '\n') c = ' ';
          std::printf("%s %-50s %s\n", r.status == Status::Failed ? "FAIL       " : "UNSUPPORTED", r.name.c_str(),
                      reason.c_str());
        }
      }
      std::printf("%s: %d passed, %d failed, %d unsupported\n", path.c_str(), passed, failed, unsupported);
      total_passed += passed;
      total_failed += failed;
    }
    if (*list && !unsupported_ops.empty()) {
      std::string ops;
      for (const auto& [op, n] : unsupported_ops) ops += fmt::format(" {}({})", op, n);
      std::printf("op types without support (tests):%s\n", ops.c_str());
    }
    std::fflush(stdout);
    AG_CHECK(total_failed == 0, "{} backend test(s) failed", total_failed);
    AG_CHECK(total_passed >= *min_passed, "{} backend tests passed, expected at least {}", total_passed, *min_passed);
  });
}

}  // namespace aotgrad::cli
