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

std::string render_graph(const graph::GraphModule& gm, const std::string& format) {
  if (format == "expanded") return graph::print_readable(gm, graph::PrintFormat::Expanded);
  if (format == "compact") return graph::print_readable(gm, graph::PrintFormat::Compact);
  if (format == "json") return graph::to_json(gm) + "\n";
  if (format == "dot") return graph::to_dot(gm);
  AG_FAIL("unknown format '{}' (expected expanded, compact, json or dot)", format);
}

std::string graph_summary(const graph::GraphModule& gm) {
  std::string out = "inputs (with their new values):\n";
  for (const auto& [input, value] : exporting::get_input_and_new_value_nodes(gm))
    out += fmt::format("  {:<28} {:<12} {:<84} new value: {}\n", input->name(), input->meta.val.as_tensor().str(),
                       input->meta.desc->str(), value ? value->name() : "unchanged");
  out += "outputs:\n";
  const auto& values = gm.graph->output_node()->args()[0].list();
  const auto& descs = exporting::output_descriptors(gm);
  for (size_t i = 0; i < values.size(); ++i)
    out += fmt::format("  {:<28} {}\n", values[i].is_node() ? values[i].node()->name() : "None",
                       descs[i] ? descs[i]->str() : "None");
  return out;
}

std::string train_step_summary(const exporting::TrainStepGraph& step) {
  std::string out =
      fmt::format("training step: {} loss, {}{}\n", exporting::loss_kind_name(step.loss), step.rule.name(),
                  step.clip_max_norm ? fmt::format(", clip_grad_norm {:g}", *step.clip_max_norm) : "");
  out += graph_summary(*step.graph_module) + "hyperparameters:";
  for (const auto& [name, value] : step.hyperparams) out += fmt::format(" {}={:g}", name, value);
  return out + "\n";
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
