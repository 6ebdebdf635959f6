// Writing a joint graph in the formats `export` and `print` share.
#pragma once

#include <string>

#include "aotgrad/export.h"

namespace aotgrad::cli {

/// "expanded", "compact", "json" or "dot"; a user error for anything else.
std::string render_joint(const exporting::JointWithDescriptors& joint, const std::string& format);
/// The --summary listing: inputs with their gradients, outputs with their tangents.
std::string joint_summary(const exporting::JointWithDescriptors& joint);
/// Writes to `path`, or to stdout when it is empty.
void write_output(const std::string& text, const std::string& path);

}  // namespace aotgrad::cli
