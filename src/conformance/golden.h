// Golden cases: reference values computed with PyTorch (tests/goldens/*.json, format
// in tests/goldens/README.md), read into tensors.
//
// Reading never trusts the file: every field is checked for presence and type, and
// a tensor's data length against its shape, so a malformed file is one clear error
// naming the file and the field, never a crash.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aotgrad/nn.h"
#include "aotgrad/tensor.h"

namespace aotgrad::conformance {

struct GoldenInput {
  std::string name;  // "input:0" or "kwarg:scale", the key used by `grads`
  Tensor value;
  bool requires_grad = false;
};

/// One node of a golden graph record.
struct GoldenNode {
  std::string name, target;    // "addmm", "aten.addmm.default"
  std::optional<Shape> shape;  // None for non-tensor results
};

/// The format_version this build reads.
inline constexpr int64_t kGoldenFormatVersion = 1;

struct GoldenCase {
  std::string path;
  std::string name;
  bool train_mode = true;
  nn::NamedTensors params, buffers;
  std::vector<GoldenInput> inputs;  // positional inputs
  std::vector<std::pair<std::string, GoldenInput>> kwargs;
  TensorList tangents, outputs;
  nn::NamedTensors grads;  // by parameter FQN, "input:i" or "kwarg:name"
  nn::NamedTensors buffers_after;
  std::vector<std::string> mutated_buffers;
  double rtol = 1e-4, atol = 1e-5;
  /// The joint graph's call_function nodes as PyTorch 1.13 traced them (the README's
  /// "Graph records"); empty when the file has no joint_aten record.
  std::vector<GoldenNode> joint_aten;
};

/// Reads one golden file; a user error naming the file and field if it is malformed.
GoldenCase load_golden(const std::string& path);
/// The same from the file's text; `path` names it in errors.
GoldenCase parse_golden_text(std::string_view text, const std::string& path);

/// The golden files named by `paths`: files as given, folders expanded to their
/// *.json files in name order.
std::vector<std::string> golden_files(const std::vector<std::string>& paths);

}  // namespace aotgrad::conformance
