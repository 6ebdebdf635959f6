// Compiling a joint graph back into a training step (SPEC.md §9).
//
// aot_compile_joint_with_descriptors partitions the joint graph into a forward and
// a backward graph and compiles each into a Program: a linear schedule of kernels
// called directly (no dispatch, no autograd at run time), every intermediate in one
// arena laid out ahead of time by a memory planner, chains of elementwise ops fused
// into one pass. The result is a CompiledFunction with the exported module's calling
// convention; it records one autograd node, so the caller's backward() runs the
// compiled backward graph and fills .grad.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "aotgrad/export.h"
#include "aotgrad/nn.h"
#include "aotgrad/partition.h"
#include "aotgrad/train_step.h"

namespace aotgrad::compile {

/// The compile pipeline's debugging controls (its passes: compile_passes()).
struct PipelineControls {
  /// Print the state after this pass ("all": after every pass; "": never).
  std::string print_after;
  /// Run each pass's verifier after it (graphs: graph::verify; programs: their invariants).
  bool verify_after_each = false;
  /// Stop after this pass (run_compile_passes only; aot_compile needs every pass).
  std::string stop_after;
  /// Where printed states go (standard output if unset).
  std::function<void(const std::string&)> emit;
};

/// One pass of the compile pipeline.
struct PassInfo {
  std::string name;  // "partition"
  std::string what;  // one line for `aotgrad passes`
};

struct CompileOptions {
  partition::PartitionOptions partition;
  /// Fuse chains of elementwise ops into single loops.
  bool fuse_pointwise = true;
  /// Let an elementwise op write over an input that dies there.
  bool reuse_buffers = true;
  /// Give an op whose kernel takes an epilogue (a convolution) the unary elementwise
  /// op that is its output's only reader (Note [Epilogues]).
  bool fuse_epilogues = true;
  /// Have the producers of a concatenation's inputs write them straight into its
  /// output, and drop the concatenation (Note [Concatenations in place]).
  bool concat_in_place = true;
  /// Run a convolution and the max pool that alone reads it image by image, each
  /// image's map pooled while it is in cache (Note [Images through two kernels]).
  bool pipeline_images = true;
  /// At more than one thread, run an inference call (nothing requires grad) whose
  /// output rows depend only on the same rows of its inputs as one program per
  /// thread, each on its share of the batch (Note [Batch shares]).
  bool batch_shares = true;
  PipelineControls pipeline;
};

/// One buffer of a program's planned arena: the graph node whose value it holds, its
/// size, and the instructions from its first write to its last read (a buffer taken
/// over in place by another ends where that one starts).
struct ArenaBuffer {
  std::string node;
  int64_t bytes = 0;
  size_t first = 0, last = 0;
};

/// What compiling one graph produced (for reports and tests).
struct ProgramStats {
  int64_t nodes = 0;         // call_function nodes in the graph
  int64_t kernels = 0;       // kernel calls per run (a fused group is one)
  int64_t fused_groups = 0;  // fused elementwise loops
  int64_t fused_ops = 0;     // ops inside them
  /// Ops given the elementwise op that reads their output as an epilogue (a
  /// convolution and its ReLU: one kernel call).
  int64_t epilogues = 0;
  /// Concatenations whose inputs are written in place (no copy), and those inputs.
  int64_t concatenations_in_place = 0;
  int64_t slices_in_place = 0;
  /// Convolution and pool pairs run image by image as one instruction.
  int64_t image_pipelines = 0;
  int64_t arena_bytes = 0;      // the planned arena
  int64_t unplanned_bytes = 0;  // what the arena's values would take without sharing
  int64_t reused_in_place = 0;  // outputs written over a dying input
  /// Graph outputs that are new values of inputs (InputMutationAOTOutput) and are
  /// computed straight into the input's storage.
  int64_t outputs_in_place = 0;
  /// Fused loops that run for many tensors at once (the optimizer's update of every
  /// parameter), and how many per-tensor loops they replaced.
  int64_t multi_tensor_loops = 0;
  int64_t multi_tensor_members = 0;
  /// Instructions that run many single-element ops back to back (an optimizer's
  /// per-parameter scalars), and how many ops they hold.
  int64_t single_element_batches = 0;
  int64_t single_element_ops = 0;
  /// The arena's buffers, for memory reports that ask what is live when.
  std::vector<ArenaBuffer> arena_buffers;
};

/// Time spent per kernel while a ProfileScope is active on this thread.
struct KernelProfile {
  struct Entry {
    std::string kernel;  // "aten.mm.default", "fused[add, relu]"
    /// The part of a training step it belongs to (a whole-step graph's "train_step"
    /// annotation: "optimizer", "clip_grad_norm"), or "".
    std::string phase;
    int64_t calls = 0;
    double ms = 0;
  };
  std::vector<Entry> entries;  // in order of first call
  /// One entry per graph node ("aten.convolution.default convolution_3") rather than
  /// one per kernel: where in the model the time goes, not only in which kernels.
  bool per_node = false;
  void add(const std::string& kernel, const std::string& phase, double ms);
  /// Milliseconds spent in one phase's kernels.
  double phase_ms(const std::string& phase) const;
};

/// Profiles the compiled programs run on this thread while alive.
class ProfileScope {
 public:
  explicit ProfileScope(KernelProfile& sink);
  ~ProfileScope();
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  KernelProfile* prev_;
};

class CompiledFunctionImpl;

class CompiledFunction {
 public:
  /// The exported module's calling convention: parameters…, buffers…, then the user
  /// args (all positional), and the user kwargs. Returns the user's output
  /// structure. Mutated buffers are written back into the tensors passed in.
  pytree::Value operator()(const nn::Args& args, const nn::Kwargs& kwargs = {}) const;
  /// Same, taking the parameters and buffers from `module` by their names.
  pytree::Value call_module(nn::Module& module, const nn::Args& args, const nn::Kwargs& kwargs = {}) const;
  /// The flat form: one tensor per primal in, the user outputs' leaves out.
  TensorList call_flat(const TensorList& primals) const;

  /// "(primals_1: f32[4, 3] ParamAOTInput(target='linear.weight'), …) -> (…)"
  std::string signature() const;
  const partition::Partition& partition() const;
  ProgramStats forward_stats() const;
  ProgramStats backward_stats() const;
  /// Joint graph to ready callable, in milliseconds.
  double compile_ms() const;
  /// A joint graph with symbolic shapes (docs/SYMBOLIC_SHAPES.md) compiles once per
  /// size it is called at, the first time: how many sizes so far (1 for fixed
  /// shapes), and how long the last new size took.
  int64_t num_sizes_compiled() const;
  double last_size_compile_ms() const;
  /// Note [Batch shares]: how many programs the last inference call ran, one per
  /// thread on its share of the batch (1: the forward program alone), and why an
  /// inference call cannot be split so ("" where it can).
  int64_t last_batch_shares() const;
  std::string why_no_batch_shares() const;

 private:
  friend CompiledFunction aot_compile_joint_with_descriptors(const exporting::JointWithDescriptors&,
                                                             const CompileOptions&);
  std::shared_ptr<const CompiledFunctionImpl> impl_;
};

CompiledFunction aot_compile_joint_with_descriptors(const exporting::JointWithDescriptors& joint,
                                                    const CompileOptions& options = {});

struct CompiledCallableState;

/// torch.compile's counterpart for a function of tensors (compile(fn)). On its first
/// call with each input signature (shapes, dtypes, which inputs require grad) it
/// exports the function's joint graph, compiles it and caches the result; later calls
/// with that signature run the compiled program, differentiably. Called inside an
/// export or make_fx region it is ignored: `fn` runs op by op on the proxies, so the
/// outer graph records its ops (Note [Compiled functions under a trace]), with one
/// warning (the first time, per callable), as torch.compile is ignored inside
/// torch.export.
class CompiledCallable {
 public:
  TensorList operator()(const TensorList& inputs) const;
  /// How many signatures it has compiled (torch.compile's backend calls).
  int64_t compilations() const;

 private:
  friend CompiledCallable compile(std::function<TensorList(const TensorList&)> fn, const CompileOptions& options);
  std::shared_ptr<CompiledCallableState> state_;
};

CompiledCallable compile(std::function<TensorList(const TensorList&)> fn, const CompileOptions& options = {});

class CompiledTrainStepImpl;

/// A whole training step (exporting::aot_export_train_step) compiled into one
/// Program: the update writes parameters and optimizer state in place (each
/// InputMutationAOTOutput computed straight into its input's storage where the
/// schedule allows), and the optimizer's elementwise update of every parameter runs
/// as one multi-tensor loop (Note [Multi-tensor loops] in fusion.cpp).
class CompiledTrainStep {
 public:
  /// One step on `batch`: reads `state` and updates its parameters, buffers and
  /// optimizer state; returns the loss and, with clipping, the total gradient norm.
  TensorList operator()(exporting::TrainState& state, const nn::Args& batch) const;
  ProgramStats stats() const;
  /// Outputs computed in their input's storage, and those copied back after the run.
  int64_t updated_in_place() const;
  int64_t copied_back() const;
  double compile_ms() const;
  /// With symbolic shapes, the sizes compiled so far (each on its first step).
  int64_t num_sizes_compiled() const;
  /// The schedule, for --print-program.
  std::string print_program() const;

 private:
  friend CompiledTrainStep aot_compile_train_step(const exporting::TrainStepGraph&, const CompileOptions&);
  std::shared_ptr<const CompiledTrainStepImpl> impl_;
};

CompiledTrainStep aot_compile_train_step(const exporting::TrainStepGraph& step, const CompileOptions& options = {});
/// The compile pipeline on a whole-step graph (its one unit is "step"), for
/// --print-after and --stop-after without making a callable.
void run_compile_passes(const exporting::TrainStepGraph& step, const CompileOptions& options);

/// The compile pipeline, in order: the list is data (src/compile/pipeline.cpp), and
/// `aotgrad passes` prints it.
std::vector<PassInfo> compile_passes();
/// Runs the pipeline up to options.pipeline.stop_after (every pass if empty), printing
/// and verifying as options.pipeline says, without making a callable.
void run_compile_passes(const exporting::JointWithDescriptors& joint, const CompileOptions& options);

}  // namespace aotgrad::compile
