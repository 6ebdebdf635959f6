// Golden cases: reference values computed with PyTorch (tests/goldens/*.json, format
// in tests/goldens/README.md), read into tensors.
//
// Reading never trusts the file: every field is checked for presence and type, and
// a tensor's data length against its shape, so a malformed file is one clear error
// naming the file and the field, never a crash.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "aotgrad/nn.h"
#include "aotgrad/tensor.h"

namespace aotgrad::conformance {

struct GoldenInput {
  std::string name;  // "input:0" or "kwarg:scale", the key used by `grads`
  Tensor value;
  bool requires_grad = false;
};

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
  /// The joint graph as PyTorch 1.13 traced it (see the README's "Graph records").
  nlohmann::json joint_aten;
};

/// Reads one golden file; a user error naming the file and field if it is malformed.
GoldenCase load_golden(const std::string& path);

/// The golden files named by `paths`: files as given, folders expanded to their
/// *.json files in name order.
std::vector<std::string> golden_files(const std::vector<std::string>& paths);

}  // namespace aotgrad::conformance
