// Helpers shared by the ports of PyTorch's test_aot_joint_with_descriptors.py
// (test_aot_joint_with_descriptors*.cpp): exporting the built-in model of an upstream
// test, printing and listing its graph as upstream does, and running it compiled.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "aotgrad/compile.h"
#include "aotgrad/export.h"
#include "aotgrad/models.h"
#include "aotgrad/trace.h"
#include "test_util.h"

namespace aotgrad::testing::upstream {

using exporting::JointWithDescriptors;

// The upstream tests' own extra step (module_with_kwargs, invoke_subgraph): blank
// lines dropped.
inline std::string without_blank_lines(const std::string& code) {
  std::istringstream in(code);
  std::string line, out;
  bool first = true;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(' ') == std::string::npos) continue;
    out += (first ? "" : "\n") + line;
    first = false;
  }
  return out;
}

struct Exported {
  models::Instance inst;
  JointWithDescriptors joint;
};

// Upstream's decomposed tests export the module directly, a path on which PyTorch
// records no stack traces (only a dynamo capture preserves node meta), so their
// listings are one run of nodes; aotgrad records them on every path unless told not to.
inline exporting::ExportOptions decomposed() {
  exporting::ExportOptions o;
  o.decompositions = trace::DecompositionTable::core();  // upstream: decomposition_table
  o.record_stack_traces = false;
  return o;
}

inline Exported export_model(const std::string& name, const exporting::ExportOptions& options = {}) {
  Exported e{models::instantiate(models::find_model(name)), {}};
  e.joint =
      exporting::aot_export_joint_with_descriptors(*e.inst.module, e.inst.example.args, e.inst.example.kwargs, options);
  return e;
}

// upstream's graph_capture(model, inputs, with_export): with_export first captures the
// forward graph (dynamo_graph_capture_for_export; here capture_forward), then exports
// the joint from it; without, it exports from the module.
inline JointWithDescriptors graph_capture(const std::string& name, bool with_export) {
  models::Instance inst = models::instantiate(models::find_model(name));
  if (!with_export)
    return exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs);
  auto gm = exporting::capture_forward(*inst.module, inst.example.args, inst.example.kwargs);
  return exporting::aot_export_joint_with_descriptors(*gm, inst.example.args, inst.example.kwargs);
}

inline std::string printed(const JointWithDescriptors& j) {
  return normalize_gm(graph::print_readable(*j.graph_module, graph::PrintFormat::Expanded));
}

inline std::string custom_metadata(const JointWithDescriptors& j) {
  std::string s;
  for (const std::string& line : exporting::get_custom_metadata(*j.graph_module)) s += (s.empty() ? "" : "\n") + line;
  return s;
}

// parallel_model_fn(*params, *inputs) against model(*inputs).
inline void expect_compiled_equals_eager(Exported& e, double tol = 0) {
  compile::CompiledFunction fn = compile::aot_compile_joint_with_descriptors(e.joint);
  pytree::Value got = fn.call_module(*e.inst.module, e.inst.example.args, e.inst.example.kwargs);
  pytree::Value want = (*e.inst.module)(e.inst.example.args, e.inst.example.kwargs);
  auto g = pytree::flatten(got).first, w = pytree::flatten(want).first;
  ASSERT_EQ(g.size(), w.size());
  for (size_t i = 0; i < g.size(); ++i) {
    std::vector<double> a = g[i].to_tensor().to_vector<double>(), b = w[i].to_tensor().to_vector<double>();
    ASSERT_EQ(a.size(), b.size());
    for (size_t k = 0; k < a.size(); ++k) EXPECT_NEAR(a[k], b[k], tol + tol * std::abs(b[k])) << "output " << i;
  }
}

inline const graph::Node* find_node(const JointWithDescriptors& j, const std::string& name) {
  return j.graph_module->graph->find(name);
}

}  // namespace aotgrad::testing::upstream
