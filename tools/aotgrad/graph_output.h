// Writing a joint graph in the formats `export` and `print` share.
#pragma once

#include <string>

#include "aotgrad/export.h"
#include "aotgrad/train_step.h"

namespace aotgrad::cli {

/// "expanded", "compact", "json" or "dot"; a user error for anything else.
std::string render_joint(const exporting::JointWithDescriptors& joint, const std::string& format);
/// A graph module alone in one of those formats (json: the graph file).
std::string render_graph(const graph::GraphModule& gm, const std::string& format);
/// The --summary listing of a graph file: each input with its new value, the outputs.
std::string graph_summary(const graph::GraphModule& gm);
/// The --summary listing of a whole training step: each input with its new value.
std::string train_step_summary(const exporting::TrainStepGraph& step);
/// The --summary listing: inputs with their gradients, outputs with their tangents.
std::string joint_summary(const exporting::JointWithDescriptors& joint);
/// Writes to `path`, or to stdout when it is empty.
void write_output(const std::string& text, const std::string& path);

}  // namespace aotgrad::cli
