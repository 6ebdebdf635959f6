// The compile pipeline: a joint graph -> partitioned halves -> two Programs, or a
// whole-step graph -> one Program, as a list of named passes (Note [A pipeline as
// data]).
#pragma once

#include <memory>
#include <optional>

#include "aotgrad/compile.h"
#include "compile/program.h"

namespace aotgrad::compile {

/// One graph on its way to a Program: "forward" and "backward" for a joint, "step"
/// for a whole training step.
struct CompileUnit {
  std::string name;
  std::shared_ptr<graph::GraphModule> graph;
  std::unique_ptr<ProgramDraft> draft;
};

/// What the passes hand along.
struct CompileState {
  /// The input: a joint graph (partitioned into two units) or a whole-step graph (one
  /// unit, as it is).
  std::shared_ptr<const graph::GraphModule> input;
  bool is_joint = true;
  partition::Partition partition;
  std::vector<CompileUnit> units;
  /// The unit called `name` (an internal error if there is none).
  CompileUnit& unit(const std::string& name);
};

/// Runs the passes in order, up to `stop_after` ("" for all), with the controls'
/// printing and verification.
CompileState run_pipeline(const exporting::JointWithDescriptors& joint, const CompileOptions& options,
                          const std::string& stop_after = "");
/// The passes after `dce`, on halves already split, merged and pruned (the
/// partition, cse and dce passes of a symbolic joint, done once and specialised to
/// one size: Note [One compiled function for every size]).
CompileState run_pipeline_after_partition(partition::Partition partitioned, const CompileOptions& options);
/// The same for a whole-step graph: its one unit is called "step".
CompileState run_pipeline_on_step(std::shared_ptr<const graph::GraphModule> step, const CompileOptions& options,
                                  const std::string& stop_after = "");

/// Merges call_function nodes that call the same pure op on the same arguments (and
/// carry the same annotations) into the first of them: returns how many went.
int eliminate_common_subexpressions(graph::GraphModule& gm);

}  // namespace aotgrad::compile
