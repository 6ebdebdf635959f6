// libFuzzer target: golden case files, single-step and whole-training-step
// (`aotgrad conformance FILE`).
//
// Any input must load or give an aotgrad user error. A case that loads is then run
// eagerly against its built-in model, as `conformance` does: shapes and values from
// the file reach the kernels, which is where overflowing shapes used to crash. The
// run may fail (wrong numbers, shapes the model rejects) but only with a user error.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "aotgrad/error.h"
#include "conformance/golden.h"
#include "conformance/runner.h"
#include "conformance/train_step_case.h"

using namespace aotgrad;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    if (conformance::is_train_step_document(text)) {
      // A whole-training-step case: its three steps, eagerly.
      conformance::TrainStepCase c = conformance::parse_train_step_text(text, "fuzz.json");
      (void)conformance::check_train_step(c, conformance::StepRunner::Eager);
      return 0;
    }
    conformance::GoldenCase c = conformance::parse_golden_text(text, "fuzz.json");
    (void)conformance::check_eager(c);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Internal) {
      std::fprintf(stderr, "internal error on a bad case: %s\n", e.what());
      std::abort();
    }
  }
  return 0;
}
