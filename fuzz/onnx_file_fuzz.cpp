// libFuzzer target: ONNX files (`--onnx FILE`, onnx_io::load_from_bytes).
//
// Any input must import or give an aotgrad user error: never a crash, a sanitizer
// report, an internal error or another exception. A model that imports is also run
// once on zero inputs (its shapes are bounded here so a tiny file cannot ask for a
// huge tensor) and must either run or fail with a user error.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "aotgrad/error.h"
#include "aotgrad/onnx.h"
#include "aotgrad/ops.h"

using namespace aotgrad;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    auto m = onnx_io::load_from_bytes(bytes, "fuzz.onnx", "/nonexistent-external-data");
    int64_t total = 0;
    nn::Args args;
    for (const onnx_io::ValueInfo& in : m->inputs()) {
      total += shape_numel(in.shape);
      args.emplace_back(zeros(in.shape, in.dtype));
    }
    if (total <= (int64_t{1} << 20)) (*m)(args);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Internal) {
      std::fprintf(stderr, "internal error: %s\n", e.what());
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "not an aotgrad error: %s\n", e.what());
    std::abort();
  }
  return 0;
}
