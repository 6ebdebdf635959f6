// libFuzzer target: the joint graph file (`aotgrad print FILE`, joint_from_json).
//
// Any input must either load or give an aotgrad user error; an internal error, any
// other exception, a crash or a sanitizer report is a bug. What loads must survive
// the round trip: print it, save it, load the saved text, and save that again with
// the same bytes.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "aotgrad/error.h"
#include "aotgrad/export.h"
#include "aotgrad/graph.h"

using namespace aotgrad;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  exporting::JointWithDescriptors joint;
  try {
    joint = exporting::joint_from_json(text);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Internal) {
      std::fprintf(stderr, "internal error on a bad file: %s\n", e.what());
      std::abort();
    }
    return 0;  // a clear user error: the expected outcome for a bad file
  }
  try {
    (void)graph::print_readable(*joint.graph_module);
    (void)graph::print_readable(*joint.graph_module, graph::PrintFormat::Compact);
    (void)graph::to_dot(*joint.graph_module);
    const std::string saved = exporting::joint_to_json(joint);
    const std::string again = exporting::joint_to_json(exporting::joint_from_json(saved));
    if (saved != again) {
      std::fprintf(stderr, "round trip changed the file\n");
      std::abort();
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "a file that loaded failed to print or round-trip: %s\n", e.what());
    std::abort();
  }
  return 0;
}
