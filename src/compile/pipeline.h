// The compile pipeline: a joint graph -> partitioned halves -> two Programs, or a
// whole-step graph -> one Program, as a list of named passes (Note [A pipeline as
// data]).
#pragma once

#include <map>
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
  /// A graph with symbolic sizes is lowered at these values of its symbols (Note
  /// [Lowering at a size], compile/program.h); empty for fixed sizes.
  std::map<int64_t, int64_t> bindings;
  /// The unit called `name` (an internal error if there is none).
  CompileUnit& unit(const std::string& name);
};

/// Runs the passes in order, up to `stop_after` ("" for all), with the controls'
/// printing and verification.
CompileState run_pipeline(const exporting::JointWithDescriptors& joint, const CompileOptions& options,
                          const std::string& stop_after = "");
/// The passes after `dce`, on halves already split, merged and pruned: the
/// partition, cse and dce passes of a symbolic joint, done once, and the rest at one
/// size (`bindings`; Note [One compiled function for every size]).
CompileState run_pipeline_after_partition(partition::Partition partitioned, const CompileOptions& options,
                                          const std::map<int64_t, int64_t>& bindings = {});
/// The same for a whole-step graph: its one unit is called "step".
CompileState run_pipeline_on_step(std::shared_ptr<const graph::GraphModule> step, const CompileOptions& options,
                                  const std::string& stop_after = "");
/// A whole-step graph's passes after `dce` at one size of its symbols, on the step
/// graph `run_pipeline_on_step(…, "dce")` left.
CompileState run_pipeline_on_step_at(std::shared_ptr<graph::GraphModule> pruned, const CompileOptions& options,
                                     const std::map<int64_t, int64_t>& bindings);

/// Merges call_function nodes that call the same pure op on the same arguments (and
/// carry the same annotations) into the first of them: returns how many went.
int eliminate_common_subexpressions(graph::GraphModule& gm);

}  // namespace aotgrad::compile
