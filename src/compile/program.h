// A graph compiled for the executor: values, instructions and the memory plan.
//
// Note [Static and dynamic values]: every tensor a graph makes has a layout known
// at compile time. Intermediates that do not escape the run live in the program's
// arena at planned offsets, so their tensors (and every argument list that reads
// only them and constants) are built once, at compile time. Only the graph inputs,
// the values that escape (graph outputs, which need storage of their own) and views
// of those change from run to run; instructions patch them into their argument
// lists before calling the kernel and drop them after their last use.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "aotgrad/compile.h"
#include "aotgrad/graph.h"
#include "ops/registry.h"

namespace aotgrad::compile {

struct FusedLoop;  // compile/fused_loop.h

enum class ValueKind {
  Input,      // a placeholder: given to run()
  Constant,   // a get_attr tensor
  Arena,      // an intermediate at a planned offset in the arena
  Fresh,      // escapes the run: allocated per run
  View,       // aliases another value's storage
  IntoInput,  // the new value of an input, written into that input's storage (`base`)
};

struct Value {
  ValueKind kind = ValueKind::Arena;
  graph::TensorVal layout;  // sizes, strides, offset and dtype it has at run time
  int base = -1;            // View: the value it aliases
  int input_index = -1;     // Input: which input
  Tensor fixed;             // Constant, Arena and views of those: the tensor itself
  bool is_static() const { return fixed.defined(); }
  int64_t bytes() const;
  /// A meta tensor with the value's layout: what an instruction's argument or output
  /// list holds for it until the planner gives it storage.
  Tensor meta() const;
  std::string name;  // the graph node it comes from
};

/// The value whose storage `v` is: itself, or what a view of it (transitively) aliases.
int storage_root(const std::vector<Value>& values, int v);

/// One step of the schedule.
struct Instruction {
  const ops::OpInfo* op = nullptr;  // the kernel's op (null for a view or fused group)
  ops::KernelFn kernel;             // what runs: op->kernel or a fused loop
  Args args;                        // static parts filled at compile time
  Outputs outs;                     // the shape rule's structure, static outputs filled
  /// Dynamic operands: (argument index, list element or -1, value).
  struct Patch {
    int arg, element, value;
  };
  std::vector<Patch> patches;
  /// Flattened outputs: one value per output tensor (-1 for an undefined one), and
  /// where each sits in `outs` (output index, list element or -1).
  std::vector<int> results;
  std::vector<std::pair<int, int>> result_slots;
  int view_of = -1;                       // a dynamic view: `results[0]` aliases this value
  bool higher_order = false;              // a higher-order op: a kernel that writes only its results
  std::shared_ptr<const FusedLoop> loop;  // a fused group: the loop `kernel` runs
  /// The epilogue `kernel` applies to op's output (Note [Epilogues]), if one was fused in.
  std::optional<ops::Epilogue> epilogue;
  /// Note [Operands by address] (executor.cpp): the same work as `kernel`, given only
  /// the data addresses of its arguments and outputs (in their order in args and
  /// outs), for instructions that read nothing else of their tensors.
  std::function<void(const void* const* args, void* const* outs)> by_address;
  std::vector<const void*> arg_addresses;  // static ones filled when frozen, the rest per run
  std::vector<void*> out_addresses;
  std::vector<int> release;  // dynamic values whose last use is here
  std::string node;          // the graph node (the first one, for a fused group)
  std::string label;         // what profiles call it: "aten.mm.default", "fused[add, relu]"
  std::string phase;         // the node's "train_step" annotation ("optimizer"), for profiles
};

class ProgramBuilder;

class Program {
 public:
  /// Compiles `gm`; its placeholders are the inputs of run(), its output values the results.
  static std::unique_ptr<Program> build(const graph::GraphModule& gm, const CompileOptions& options);

  /// Runs the schedule. Inputs are taken by value and released after their last use.
  std::vector<Tensor> run(std::vector<Tensor> inputs) const;

  const std::vector<Value>& values() const { return values_; }
  /// The schedule as text: one line per instruction (what runs, what it reads and
  /// writes), then the values with their kind and arena offset (once planned).
  std::string print() const;
  /// The program's own invariants (value indices in range, patched operands dynamic,
  /// arena values inside the arena once planned); an internal error if one fails.
  void verify() const;
  const std::vector<int>& inputs() const { return inputs_; }
  /// The value of each output slot (-1: None).
  const std::vector<int>& outputs() const { return outputs_; }
  /// The layout run() requires of input `i`.
  const graph::TensorVal& input_layout(size_t i) const { return values_.at(static_cast<size_t>(inputs_.at(i))).layout; }
  const ProgramStats& stats() const { return stats_; }
  const std::vector<Instruction>& instructions() const { return instructions_; }

 private:
  friend class ProgramBuilder;
  std::vector<Value> values_;
  std::vector<int> inputs_;   // value per placeholder
  std::vector<int> outputs_;  // value per output slot (-1: None)
  std::vector<Instruction> instructions_;
  std::vector<int> release_at_start_;  // inputs nobody reads
  std::shared_ptr<void> arena_;
  ProgramStats stats_;
  mutable std::mutex running_;                  // the arena serves one run at a time
  mutable std::vector<Tensor> scratch_;         // the run's values; kept so a run allocates no table
  mutable std::vector<const void*> addresses_;  // the run's values' data (Note [Operands by address])
};

/// Note [Lowering at a size]: a graph with symbolic sizes is lowered as it is, at one
/// value of each symbol, without a specialised copy of it: placeholders take
/// graph::value_at's layouts (or the ones given by name), size arguments are
/// evaluated as they are bound, every other layout comes from the shape rules as
/// always, and each node's recorded sizes, evaluated, are checked against them.
struct LowerAt {
  std::map<int64_t, int64_t> bindings;  // empty for a graph without symbols
  /// Layouts some inputs must take (a backward's saved values, as its forward made them).
  std::map<std::string, graph::TensorVal> input_layouts;
};

/// A Program built one stage at a time (lower, fuse, plan), so the compile pipeline
/// can print and verify it between stages. Program::build runs all three.
class ProgramDraft {
 public:
  ProgramDraft(std::shared_ptr<const graph::GraphModule> gm, const CompileOptions& options, LowerAt at = {});
  ~ProgramDraft();
  void lower();
  void fuse();
  void plan();
  const Program& program() const { return *program_; }
  /// The finished program (after plan).
  std::unique_ptr<Program> finish();

 private:
  std::shared_ptr<const graph::GraphModule> gm_;
  CompileOptions options_;
  LowerAt at_;
  std::unique_ptr<Program> program_;
  std::unique_ptr<ProgramBuilder> builder_;
};

}  // namespace aotgrad::compile
