// aotgrad run --graph FILE: compile and run a saved graph (a joint file, or a graph
// file such as a whole training step) without the model that made it.
#pragma once

#include <string>

#include "aotgrad/compile.h"

namespace aotgrad::cli {

struct RunGraphOptions {
  bool check = false;            // compare with the interpreter on the same inputs
  std::string inputs_path;       // inputs by descriptor (the checkpoint format)
  std::string save_inputs_path;  // write the inputs used, in that format
  compile::CompileOptions compile_options;
};

/// Inputs come from each placeholder's recorded shape and dtype (seeded), or from
/// `inputs_path`. With `check`, every output (and, for a joint, every gradient; for a
/// step, every updated input) is compared with the interpreter's, and a difference
/// is a user error after the table.
void run_graph_file(const std::string& path, const RunGraphOptions& options);

}  // namespace aotgrad::cli
