// Runs golden cases and compares against PyTorch's numbers with the case's tolerance.
#pragma once

#include <optional>
#include <string>

#include "conformance/golden.h"

namespace aotgrad::conformance {

struct CaseResult {
  std::string name;
  bool passed = false;
  /// On success a summary ("max err 1.2e-07"); on failure what differed and by how much.
  std::string detail;
};

/// Compares `got` with `want` elementwise: |got - want| <= atol + rtol |want| for floats,
/// exact for integers and bools. Returns a description of the first mismatch, if any.
std::optional<std::string> compare_tensors(const std::string& what, const Tensor& got,
                                           const Tensor& want, double rtol, double atol,
                                           double* max_err = nullptr);

/// Builds the case's model, loads its parameters and buffers by name, runs forward
/// and backward eagerly with the case's inputs and tangents, and compares outputs,
/// gradients and buffers after the forward.
CaseResult check_eager(const GoldenCase& c);

}  // namespace aotgrad::conformance
