// Runs golden cases and compares against PyTorch's numbers with the case's tolerance.
#pragma once

#include <optional>
#include <string>

#include "aotgrad/compile.h"
#include "aotgrad/graph.h"
#include "aotgrad/models.h"
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
std::optional<std::string> compare_tensors(const std::string& what, const Tensor& got, const Tensor& want, double rtol,
                                           double atol, double* max_err = nullptr);

// Each check runs the built-in model named like the case, or `model` when given: an
// imported ONNX file (models::Kind::Imported, onnx/<case>.onnx beside the goldens).
// An imported model loads the case's tensors it has (exporters drop
// num_batches_tracked) and its buffer updates are not compared: ONNX's
// BatchNormalization updates running_var with the population variance, PyTorch with
// the unbiased one (docs/ONNX.md). Nor is its graph compared with `joint_aten`.

/// Builds the case's model, loads its parameters and buffers by name, runs forward
/// and backward eagerly with the case's inputs and tangents, and compares outputs,
/// gradients and buffers after the forward.
CaseResult check_eager(const GoldenCase& c, const models::ModelInfo* model = nullptr);

/// The same through the compiled path: export the joint graph, compile it
/// (aot_compile_joint_with_descriptors), call it with the module's parameters and
/// buffers, and run the caller's backward through the compiled backward graph.
CaseResult check_compiled(const GoldenCase& c, const compile::CompileOptions& options = {},
                          const models::ModelInfo* model = nullptr);

/// Exports the case's model (aot_export_joint_with_descriptors), runs the joint graph
/// through the interpreter on the case's primals and tangents, and compares its
/// outputs (buffer updates, forward outputs, gradients) with the case. For the cases
/// whose golden graph comes from the same op set (`joint_graph_matches_golden`), the
/// graph's call_function nodes must also equal the golden `joint_aten` list.
CaseResult check_joint(const GoldenCase& c, bool decompose = false, const models::ModelInfo* model = nullptr);

/// Where a case's ONNX export lives: onnx/<case file's stem>.onnx beside it.
std::string onnx_file_path(const std::string& case_file);
/// That path if the file exists, else "".
std::string onnx_file_for(const std::string& case_file);
/// Whether the case file's stem names a built-in model.
bool has_builtin_model(const std::string& case_file);

/// The cases whose `joint_aten` node list is a target rather than a hint (see the
/// golden README, "Graph records").
bool joint_graph_matches_golden(const std::string& case_name);

/// Compares a graph's call_function nodes (name, target, shape) with a golden
/// `joint_aten` node list; returns the first difference.
std::optional<std::string> compare_node_lists(const graph::GraphModule& gm, const std::vector<GoldenNode>& want);

}  // namespace aotgrad::conformance
