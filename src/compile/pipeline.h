// The compile pipeline: joint graph -> partitioned halves -> two Programs, as a list
// of named passes (Note [A pipeline as data]).
#pragma once

#include <memory>
#include <optional>

#include "aotgrad/compile.h"
#include "compile/program.h"

namespace aotgrad::compile {

/// What the passes hand along.
struct CompileState {
  exporting::JointWithDescriptors joint;
  partition::Partition partition;
  std::unique_ptr<ProgramDraft> forward, backward;
};

/// Runs the passes in order, up to `stop_after` ("" for all), with the controls'
/// printing and verification.
CompileState run_pipeline(const exporting::JointWithDescriptors& joint, const CompileOptions& options,
                          const std::string& stop_after = "");

/// Removes call_function nodes whose results nobody uses (not in-place, not random):
/// returns how many went.
int eliminate_dead_code(graph::GraphModule& gm);

}  // namespace aotgrad::compile
