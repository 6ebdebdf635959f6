// The whole training step as one graph (docs/TRAIN_STEP.md): forward, loss,
// backward seeded with 1 on the loss, optional gradient clipping and the optimizer
// update, exported as one functional graph with a descriptor on every input and
// output.
//
// Inputs, in this order: each parameter (ParamAOTInput), each buffer
// (BufferAOTInput), the optimizer state of each trainable parameter in parameter
// order and torch.optim's key order
// (OptimizerStateAOTInput(param=ParamAOTInput(target='fc.weight'), state='exp_avg')),
// each hyperparameter as a 0-d float64 tensor (HyperparamAOTInput(name='lr'), so a
// schedule never recompiles), then the batch (PlainAOTInput(idx=i): the module's
// positional inputs, then the loss target where the loss takes one).
// Outputs: the new value of every updated parameter, every buffer the forward wrote,
// and every piece of optimizer state, as InputMutationAOTOutput in input order; then
// the loss (PlainAOTOutput(idx=0)) and, with clipping, the total gradient norm before
// clipping (PlainAOTOutput(idx=1)). There are no tangent inputs and no gradient
// outputs: gradients live and die inside the step. The nodes of each parameter's
// update carry the annotation {'train_step': 'optimizer', 'param': 'fc.weight'}, the
// clipping nodes {'train_step': 'clip_grad_norm'}, on top of the user's own.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aotgrad/export.h"
#include "aotgrad/optim.h"

namespace aotgrad::exporting {

/// How the loss is made from the module's output.
enum class LossKind {
  ModelOutput,   // the module returns the loss itself (a 0-d float tensor)
  Mse,           // mse_loss(output, target), mean; target = the batch's last input
  CrossEntropy,  // cross_entropy(output, labels), mean; labels = the batch's last input
};
/// "model_output", "mse", "cross_entropy"; parse_loss_kind is its inverse (user error
/// naming the choices otherwise).
const char* loss_kind_name(LossKind kind);
LossKind parse_loss_kind(const std::string& name);

/// The loss of one step from the module's output (and the target, for Mse and
/// CrossEntropy): the one definition the export, the eager checks and the tools share.
Tensor training_loss(LossKind kind, const Tensor& output, const Tensor& target);

struct TrainStepOptions {
  LossKind loss = LossKind::ModelOutput;
  optim::UpdateRule rule = optim::UpdateRule::sgd({});
  /// clip_grad_norm_(parameters, max_norm) before the update; its max_norm is the
  /// hyperparameter input "max_norm".
  std::optional<double> clip_max_norm;
  ExportOptions export_options;
};

struct TrainStepGraph {
  std::shared_ptr<graph::GraphModule> graph_module;
  std::vector<std::string> params_spec, buffers_spec;
  /// Parameters that are updated (requires_grad and used by the loss).
  std::vector<std::string> trainable;
  /// Every hyperparameter input in graph order, with the value it had at export.
  optim::Hyperparams hyperparams;
  optim::UpdateRule rule = optim::UpdateRule::sgd({});
  std::optional<double> clip_max_norm;
  LossKind loss = LossKind::ModelOutput;
  /// Under FSDP: the world size, and every input held as this rank's shard (the
  /// parameters and their optimizer state shaped like them) with its whole size.
  std::optional<FullyShardedOptions> fully_sharded;
  struct ShardedInput {
    Descriptor input;
    Shape full_sizes;
  };
  std::vector<ShardedInput> sharded;
};

/// Exports one training step of `module` on a batch shaped like `batch` (the module's
/// positional inputs, then the target for Mse and CrossEntropy).
TrainStepGraph aot_export_train_step(nn::Module& module, const nn::Args& batch, const TrainStepOptions& options);

/// Everything a step reads and writes besides the batch, keyed by the input
/// descriptors, in graph order: parameters and buffers (the module's own tensors, so
/// the module sees every update), optimizer state, hyperparameters (0-d float64).
struct TrainState {
  std::vector<Descriptor> keys;
  TensorList values;

  /// Binds `module`'s parameters and buffers and makes the initial optimizer state and
  /// the hyperparameters at their export values, for the inputs of `step`.
  static TrainState for_module(nn::Module& module, const TrainStepGraph& step);
  /// Under FSDP: rank `rank`'s shards of the module's parameters (copies: write them
  /// back with gather_into_module) and of the initial optimizer state.
  static TrainState for_module(nn::Module& module, const TrainStepGraph& step, int64_t rank);
  /// Under FSDP: the state one process would hold, each sharded input gathered from
  /// every rank's shard by `all_gather` (e.g. dist::Job::all_gather; every rank calls
  /// it). sharded() is its inverse, rank `rank`'s shards of a whole state.
  TrainState unsharded(const TrainStepGraph& step, const std::function<Tensor(const Tensor&)>& all_gather) const;
  TrainState sharded(const TrainStepGraph& step, int64_t rank) const;
  /// Copies each parameter into the module's own tensor where it is not that tensor
  /// already (a state unsharded after FSDP training).
  void write_into_module(nn::Module& module) const;
  /// The tensor for `key`, or null.
  Tensor* find(const Descriptor& key);
  const Tensor* find(const Descriptor& key) const;
  /// The same, trying keys[cursor] first and leaving `cursor` after the key found.
  Tensor* find_from(const Descriptor& key, size_t& cursor);
  void set_hyperparam(const std::string& name, double value);
  double hyperparam(const std::string& name) const;
  /// The graph's inputs: these tensors, then the batch for the PlainAOTInputs (a user
  /// error naming the input if the batch does not fit).
  TensorList bind(const graph::GraphModule& gm, const nn::Args& batch) const;
  /// Writes the step's InputMutationAOTOutputs into the tensors they belong to (those
  /// the executor did not already update in place) and returns the plain outputs.
  TensorList absorb(const graph::GraphModule& gm, const TensorList& outputs);
};

/// Runs the step's graph with the interpreter (no compilation; for checking):
/// updates `state` like a compiled step and returns the plain outputs.
TensorList interpret_train_step(const TrainStepGraph& step, TrainState& state, const nn::Args& batch);

/// Checkpoints: every parameter, buffer and optimizer state of `state` (not the
/// hyperparameters: a schedule sets those), keyed by descriptor, values exact, plus
/// `steps_done`. Written atomically (docs/TRAIN_STEP.md gives the format).
void save_checkpoint(const std::string& path, const TrainState& state, int64_t steps_done);
/// Reads a checkpoint into `state`: it must hold exactly the state's keys with their
/// shapes and dtypes (another model, another optimizer or a damaged file is a user
/// error naming the first difference, and nothing is written). Returns steps_done.
int64_t load_checkpoint(const std::string& path, TrainState& state);

// ---- fx_utils for whole-step graphs ----

struct OptimizerStateNodes {
  std::string param;       // the parameter's FQN
  std::string state;       // "exp_avg"
  graph::Node* input;      // the OptimizerStateAOTInput placeholder
  graph::Node* new_value;  // the node returned as its InputMutationAOTOutput, or null
};
/// Every optimizer-state input with the node that becomes its new value, in graph order.
std::vector<OptimizerStateNodes> get_optimizer_state_nodes(const graph::GraphModule& gm);
/// The HyperparamAOTInput placeholders by name, in graph order.
std::vector<std::pair<std::string, graph::Node*>> get_hyperparam_nodes(const graph::GraphModule& gm);
struct InputWithNewValue {
  graph::Node* input;
  graph::Node* new_value;  // returned as its InputMutationAOTOutput, or null: unchanged
};
/// Every input with the node that becomes its new value.
std::vector<InputWithNewValue> get_input_and_new_value_nodes(const graph::GraphModule& gm);

}  // namespace aotgrad::exporting
