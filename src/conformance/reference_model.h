// Real models as ONNX files with PyTorch's numbers (tests/models/<name>.ref.json,
// format in tests/models/README.md): the imported model's output and two parameter
// gradients, eagerly and through the compiled training step.
#pragma once

#include <string>

#include "conformance/runner.h"

namespace aotgrad::conformance {

/// Whether `path` is a model reference file (*.ref.json).
bool is_reference_model_file(const std::string& path);

/// Imports the reference's ONNX file (beside it), runs the forward on its input and
/// the backward with its tangent, eagerly (`compiled` false) or through the compiled
/// joint, and compares the output and the gradients with the file's suggested checks
/// (elementwise or relative L2; a gradient stored in part also by its full-tensor
/// sums).
CaseResult check_reference_model(const std::string& path, bool compiled);

}  // namespace aotgrad::conformance
