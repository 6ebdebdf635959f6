// Runs golden cases and compares against PyTorch's numbers with the case's tolerance.
#pragma once

#include <optional>
#include <string>

#include "aotgrad/compile.h"
#include "aotgrad/graph.h"
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

/// Builds the case's model, loads its parameters and buffers by name, runs forward
/// and backward eagerly with the case's inputs and tangents, and compares outputs,
/// gradients and buffers after the forward.
CaseResult check_eager(const GoldenCase& c);

/// The same through the compiled path: export the joint graph, compile it
/// (aot_compile_joint_with_descriptors), call it with the module's parameters and
/// buffers, and run the caller's backward through the compiled backward graph.
CaseResult check_compiled(const GoldenCase& c, const compile::CompileOptions& options = {});

/// Exports the case's model (aot_export_joint_with_descriptors), runs the joint graph
/// through the interpreter on the case's primals and tangents, and compares its
/// outputs (buffer updates, forward outputs, gradients) with the case. For the cases
/// whose golden graph comes from the same op set (`joint_graph_matches_golden`), the
/// graph's call_function nodes must also equal the golden `joint_aten` list.
CaseResult check_joint(const GoldenCase& c, bool decompose = false);

/// The cases whose `joint_aten` node list is a target rather than a hint (see the
/// golden README, "Graph records").
bool joint_graph_matches_golden(const std::string& case_name);

/// Compares a graph's call_function nodes (name, target, shape) with a golden
/// `joint_aten` node list; returns the first difference.
std::optional<std::string> compare_node_lists(const graph::GraphModule& gm, const std::vector<GoldenNode>& want);

}  // namespace aotgrad::conformance
