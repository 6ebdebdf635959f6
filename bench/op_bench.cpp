// The op suites' perf mode (as ggml's test-backend-ops has one): times each op of the
// op test database on its samples, through the same entry eager code uses.
//   build/op_bench [OP...]     (no names: every op; names as AOTGRAD_OPS takes them)
// The samples are the correctness suites' small shapes, so this measures per-call cost
// and finds pathological kernels; bench/ and `aotgrad bench` measure throughput.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "aotgrad/autograd.h"
#include "aotgrad/error.h"
#include "ops/dispatch.h"
#include "ops/op_db.h"

using namespace aotgrad;

int main(int argc, char** argv) {
  std::string names;
  for (int i = 1; i < argc; ++i) {
    if (!names.empty()) names += ',';
    names += argv[i];
  }
  if (!names.empty()) setenv("AOTGRAD_OPS", names.c_str(), 1);
  autograd::NoGradGuard no_grad;
  std::printf("%-44s %-28s %12s\n", "op", "sample", "median us");
  for (const testing::OpEntry& e : testing::selected_entries()) {
    const ops::OpInfo& op = ops::op_info(e.op);
    if (op.kind == ops::OpKind::InPlace) continue;  // would mutate the shared sample
    for (const testing::Sample& s : e.samples()) {
      std::vector<double> us;
      try {
        for (int rep = 0; rep < 31; ++rep) {
          const auto start = std::chrono::steady_clock::now();
          (void)ops::call(op.id, s.args);
          us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
        }
      } catch (const Error& err) {
        std::printf("%-44s %-28s %12s  (%s)\n", op.qualified_name().c_str(), s.label.c_str(), "error", err.what());
        continue;
      }
      std::nth_element(us.begin(), us.begin() + us.size() / 2, us.end());
      std::printf("%-44s %-28s %12.2f\n", op.qualified_name().c_str(), s.label.c_str(), us[us.size() / 2]);
    }
  }
  return 0;
}
