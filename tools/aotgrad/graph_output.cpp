#include "graph_output.h"

#include "support/atomic_file.h"
#include "support/error.h"

namespace aotgrad::cli {

std::string render_joint(const exporting::JointWithDescriptors& joint, const std::string& format) {
  const graph::GraphModule& gm = *joint.graph_module;
  if (format == "expanded") return graph::print_readable(gm, graph::PrintFormat::Expanded);
  if (format == "compact") return graph::print_readable(gm, graph::PrintFormat::Compact);
  if (format == "json") return exporting::joint_to_json(joint) + "\n";
  if (format == "dot") return graph::to_dot(gm);
  AG_FAIL("unknown format '{}' (expected expanded, compact, json or dot)", format);
}

std::string joint_summary(const exporting::JointWithDescriptors& joint) {
  const graph::GraphModule& gm = *joint.graph_module;
  auto name = [](const graph::Node* n) { return n ? n->name() : std::string("None"); };
  std::string out = "inputs (with their gradients):\n";
  for (const auto& [input, grad] : exporting::get_all_input_and_grad_nodes(gm))
    out += fmt::format("  {:<12} {:<10} {:<60} grad: {}\n", input->name(), input->meta.val.as_tensor().str(),
                       input->meta.desc->str(), name(grad));
  out += "outputs (with their tangents):\n";
  const auto& descs = exporting::output_descriptors(gm);
  for (const auto& [output, tangent] : exporting::get_all_output_and_tangent_nodes(gm)) {
    std::string desc;
    const auto& values = gm.graph->output_node()->args()[0].list();
    for (size_t i = 0; i < values.size(); ++i)
      if (values[i].is_node() && values[i].node() == output && descs[i]) desc = descs[i]->str();
    out += fmt::format("  {:<12} {:<60} tangent: {}\n", name(output), desc, name(tangent));
  }
  std::string statics;
  for (int64_t i : joint.static_input_indices) statics += (statics.empty() ? "" : ", ") + std::to_string(i);
  out += fmt::format("params: {}\nbuffers: {}\nstatic_input_indices: [{}]\nin_spec: {}\nout_spec: {}\n",
                     fmt::join(joint.params_spec, ", "), fmt::join(joint.buffers_spec, ", "), statics,
                     joint.in_spec.str(), joint.out_spec.str());
  return out;
}

void write_output(const std::string& text, const std::string& path) {
  if (path.empty())
    write_stdout(text);
  else
    write_file_atomically(path, text);
}

}  // namespace aotgrad::cli
