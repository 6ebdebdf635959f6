// Joint export with descriptors (SPEC.md §7) and the fx_utils helpers.
//
// aot_export_joint_with_descriptors traces a live module's forward on proxy
// tensors, then runs the eager autograd engine on the proxies to record the
// backward — one autograd engine, two ways to dispatch. The result is one
// functional graph whose inputs are the primals (parameters, buffers, flattened
// user inputs) and tangents, and whose outputs are the new values of mutated
// inputs, the user outputs and one gradient slot per primal, each labelled with a
// Descriptor.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aotgrad/graph.h"
#include "aotgrad/nn.h"
#include "aotgrad/parallel.h"
#include "aotgrad/trace.h"

namespace aotgrad::exporting {

/// A dimension of a user input whose size is a symbol in the graph (docs/SYMBOLIC_SHAPES.md).
struct DynamicDim {
  int64_t input = 0;  // the user input, flattened (kwargs after args)
  int64_t dim = 0;
  bool operator==(const DynamicDim&) const = default;
};

struct ExportOptions {
  /// Ops to decompose while tracing; empty keeps ATen ops as they are.
  trace::DecompositionTable decompositions;
  bool record_stack_traces = true;
  /// For inference graphs (nothing requires grad): write mutated inputs back with
  /// copy_ nodes at the end of the graph instead of returning their new values.
  bool keep_input_mutations = false;
  /// Data-parallel (DDP): each ParamAOTInput's gradient is averaged across the ranks
  /// (all_reduce_gradients) before it is returned or, in a training step, clipped and
  /// applied.
  std::optional<DataParallelOptions> data_parallel;
  /// Fully-sharded (FSDP): each ParamAOTInput is this rank's shard
  /// (shard_sizes(param, world_size)), gathered before the forward reads it; its
  /// gradient (GradAOTOutput) is this rank's shard of the average across the ranks,
  /// and a training step updates only the shard and its optimizer state.
  std::optional<FullyShardedOptions> fully_sharded;
  /// Symbolic shapes: these dims of the user inputs are symbols s0, s1, … (each its
  /// own until the trace finds them equal), so the graph serves every size that meets
  /// its guards. A dim the model fixes (a Linear's in-features) is an error naming the
  /// op that fixed it. Only the joint export takes them.
  std::vector<DynamicDim> dynamic;
};

/// What the forward does, beyond its graph.
struct ForwardMetadata {
  std::vector<bool> input_mutated;         // per primal
  std::vector<bool> output_requires_grad;  // per user output
  int64_t num_forward_outputs = 0;         // mutated inputs + user outputs
  int64_t num_mutated_inputs = 0;
  int64_t num_primals = 0;
  int64_t num_tangents = 0;
};

struct JointWithDescriptors {
  std::shared_ptr<graph::GraphModule> graph_module;
  /// The user call's (args, kwargs) structure and the forward's output structure.
  pytree::TreeSpec in_spec, out_spec;
  std::vector<std::string> params_spec, buffers_spec;
  std::vector<int64_t> static_input_indices;
  ForwardMetadata metadata;
};

JointWithDescriptors aot_export_joint_with_descriptors(nn::Module& module, const nn::Args& args,
                                                       const nn::Kwargs& kwargs = {},
                                                       const ExportOptions& options = {});

/// Captures the module's forward alone (no backward) as a functional graph:
/// placeholders for the parameters and buffers (ParamAOTInput / BufferAOTInput with
/// their FQNs) and the flattened user inputs, outputs for mutated inputs
/// (InputMutationAOTOutput) and user outputs; annotations and stack traces kept.
/// Savable with graph::to_json.
std::shared_ptr<graph::GraphModule> capture_forward(nn::Module& module, const nn::Args& args,
                                                    const nn::Kwargs& kwargs = {}, const ExportOptions& options = {});

/// The joint graph of a captured forward graph: the same graph, descriptors,
/// annotations and stack traces as exporting the live module it was captured from.
/// `args` and `kwargs` are example inputs (their shapes and requires_grad).
JointWithDescriptors aot_export_joint_with_descriptors(const graph::GraphModule& captured, const nn::Args& args,
                                                       const nn::Kwargs& kwargs = {},
                                                       const ExportOptions& options = {});

/// The lossless JSON form of a joint (its graph module plus the export's fields).
std::string joint_to_json(const JointWithDescriptors& joint);
JointWithDescriptors joint_from_json(const std::string& text);

// ---- fx_utils (SPEC.md §7, "The helpers") ----
// Each fails with a clear error on a graph whose placeholders or output lack descriptors.

struct InputWithGrad {
  graph::Node* input;
  graph::Node* grad;  // the node returned as its gradient, or null
};
struct OutputWithTangent {
  graph::Node* output;
  graph::Node* tangent;  // the tangent placeholder for it, or null
};

/// Every tensor input (primal or tangent) with its gradient node.
std::vector<InputWithGrad> get_all_input_and_grad_nodes(const graph::GraphModule& gm);
/// Every forward output (mutations and user outputs) with its tangent.
std::vector<OutputWithTangent> get_all_output_and_tangent_nodes(const graph::GraphModule& gm);
std::vector<InputWithGrad> get_param_and_grad_nodes(const graph::GraphModule& gm);
std::vector<InputWithGrad> get_plain_input_and_grad_nodes(const graph::GraphModule& gm);
std::vector<OutputWithTangent> get_plain_output_and_tangent_nodes(const graph::GraphModule& gm);
/// Parameter / buffer placeholders by FQN, in graph order.
std::vector<std::pair<std::string, graph::Node*>> get_named_param_nodes(const graph::GraphModule& gm);
std::vector<std::pair<std::string, graph::Node*>> get_named_buffer_nodes(const graph::GraphModule& gm);
/// One line per annotated node, in graph order: ('call_function', 'addmm', {'pp_stage': 0});
/// a subgraph's lines follow as one bracketed list on one line.
std::vector<std::string> get_custom_metadata(const graph::GraphModule& gm);
/// The call_function node names grouped by seq_nr: groups in ascending seq_nr, names
/// sorted within a group.
std::vector<std::vector<std::string>> get_ordered_seq_nr_groups(const graph::GraphModule& gm);

/// The descriptor of each output value (None where a slot is empty).
const std::vector<std::optional<Descriptor>>& output_descriptors(const graph::GraphModule& gm);

}  // namespace aotgrad::exporting
