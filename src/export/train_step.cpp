// aot_export_train_step: the whole training step traced into one graph.
//
// The same two dispatchers as the joint export (Note [One engine, two dispatchers]):
// the forward runs on proxies under the tracer, the eager engine runs the backward
// on them, and then the rest of the step — clipping and the optimizer's UpdateRule —
// is ordinary tensor code on proxies (Note [One update rule, three ways to run it]),
// so every op of it lands in the graph.
#include "aotgrad/train_step.h"

#include <algorithm>

#include "aotgrad/annotate.h"
#include "aotgrad/autograd.h"
#include "aotgrad/ops.h"
#include "export/forward_source.h"
#include "export/graph_boundary.h"
#include "export/sharded_params.h"
#include "hop/register.h"
#include "ops/dispatch.h"
#include "support/error.h"

namespace aotgrad::exporting {

namespace {

// "fc1.weight" -> "fc1_weight": placeholder names a reader can follow.
std::string name_of(const std::string& fqn) {
  std::string s = fqn;
  for (char& c : s)
    if (c == '.') c = '_';
  return s;
}

}  // namespace

Tensor training_loss(LossKind kind, const Tensor& out, const Tensor& target) {
  switch (kind) {
    case LossKind::ModelOutput:
      AG_CHECK(out.dim() == 0 && out.is_floating_point(),
               "train step: --loss model_output needs the module to return a 0-d float loss, but it returned {}",
               out.describe());
      return out;
    case LossKind::Mse:
      AG_CHECK(target.sizes() == out.sizes(), "train step: the MSE target is {}, but the output is {}",
               target.describe(), out.describe());
      return mse_loss(out, target);
    case LossKind::CrossEntropy:
      return cross_entropy(out, target);
  }
  AG_INTERNAL_CHECK(false, "unknown loss kind");
  return {};
}

const char* loss_kind_name(LossKind kind) {
  switch (kind) {
    case LossKind::ModelOutput:
      return "model_output";
    case LossKind::Mse:
      return "mse";
    case LossKind::CrossEntropy:
      return "cross_entropy";
  }
  return "?";
}

LossKind parse_loss_kind(const std::string& name) {
  for (LossKind k : {LossKind::ModelOutput, LossKind::Mse, LossKind::CrossEntropy})
    if (name == loss_kind_name(k)) return k;
  AG_FAIL("unknown loss '{}' (expected model_output, mse or cross_entropy)", name);
}

namespace {
// One trace of a training step, phase by phase: inputs, forward and loss, backward
// and update, outputs.
class StepTrace {
 public:
  StepTrace(const detail::ForwardSource& source, const TrainStepOptions& options)
      : source_(source),
        options_(options),
        gm_(std::make_shared<graph::GraphModule>()),
        tracer_(*gm_, {options.export_options.decompositions, options.export_options.record_stack_traces,
                       trace::StackFrames::AllUserFrames}),
        inputs_(*gm_, tracer_) {
    if (!options.export_options.dynamic.empty()) {
      shape_env_ = std::make_unique<ops::ShapeEnv>();
      tracer_.set_shape_env(shape_env_.get());
    }
  }

  TrainStepGraph run(const nn::Args& batch, const std::string& name) {
    AG_CHECK(!options_.export_options.data_parallel || !options_.export_options.fully_sharded,
             "train step: choose data-parallel or fully-sharded, not both");
    result_.rule = options_.rule;
    result_.clip_max_norm = options_.clip_max_norm;
    result_.loss = options_.loss;
    gm_->name = name;
    add_state_inputs();
    add_batch_inputs(batch);
    forward_and_loss();
    backward_and_update();
    add_outputs();
    tracer_.finish();
    if (shape_env_) {
      detail::check_nothing_specialized(*shape_env_, *gm_);
      tracer_.finish_symbolic();
    }
    graph::eliminate_dead_code(*gm_);
    if (options_.export_options.data_parallel) schedule_gradient_buckets(*gm_->graph);
    if (const auto& fsdp = options_.export_options.fully_sharded) {
      schedule_fully_sharded(*gm_->graph, *fsdp);
      result_.fully_sharded = fsdp;
    }
    graph::verify(*gm_);
    result_.graph_module = gm_;
    return std::move(result_);
  }

 private:
  const detail::ForwardSource& source_;
  const TrainStepOptions& options_;
  std::shared_ptr<graph::GraphModule> gm_;
  std::unique_ptr<ops::ShapeEnv> shape_env_;  // a symbolic trace's (ExportOptions::dynamic)
  trace::Tracer tracer_;
  detail::GraphInputs inputs_;
  TrainStepGraph result_;
  TensorList params_, buffers_;
  TensorList model_params_;         // what the forward reads: params_, or under FSDP their gathered wholes
  std::vector<TensorList> states_;  // per parameter, in state_names() order
  optim::HyperTensors hyper_;
  nn::Args module_args_;
  Tensor target_, loss_, grad_norm_;

  Tensor add_input(const std::string& name, const Tensor& like, bool requires_grad, Descriptor desc,
                   const std::vector<int64_t>& dynamic_dims = {}) {
    return inputs_.add(name, like, requires_grad, std::move(desc), dynamic_dims);
  }

  void add_state_inputs() {
    const auto& fsdp = options_.export_options.fully_sharded;
    for (const auto& p : source_.params) {
      result_.params_spec.push_back(p.fqn);
      // Under FSDP the input is this rank's shard; the forward reads the gathered whole.
      const Tensor like = fsdp ? shard_of(p.example, 0, fsdp->world_size) : p.example;
      params_.push_back(add_input(name_of(p.fqn), like, p.requires_grad && !fsdp, Descriptor::param(p.fqn)));
      if (fsdp) result_.sharded.push_back({Descriptor::param(p.fqn), p.example.sizes()});
    }
    for (const auto& b : source_.buffers) {
      result_.buffers_spec.push_back(b.fqn);
      buffers_.push_back(add_input(name_of(b.fqn), b.example, false, Descriptor::buffer(b.fqn)));
    }
    // Optimizer state of each parameter that requires grad. Whether the loss uses it
    // is known only after the backward; an unused one keeps its state unchanged
    // (torch.optim skips a parameter whose grad is None).
    const std::vector<std::string> names = options_.rule.state_names();
    states_.resize(params_.size());
    for (size_t i = 0; i < params_.size(); ++i) {
      const auto& p = source_.params[i];
      if (!p.requires_grad) continue;
      TensorList initial = options_.rule.initial_state(params_[i]);
      for (size_t k = 0; k < names.size(); ++k) {
        Descriptor desc = Descriptor::optimizer_state(Descriptor::param(p.fqn), names[k]);
        // State shaped like the parameter is sharded with it (not a 0-d step count).
        if (fsdp && initial[k].sizes() == params_[i].sizes()) result_.sharded.push_back({desc, p.example.sizes()});
        states_[i].push_back(add_input(name_of(p.fqn) + "_" + names[k], initial[k], false, std::move(desc)));
      }
    }
    result_.hyperparams = options_.rule.hyperparams();
    if (options_.clip_max_norm) result_.hyperparams.emplace_back("max_norm", *options_.clip_max_norm);
    for (const auto& [name, value] : result_.hyperparams) {
      hyper_.names.push_back(name);
      hyper_.values.push_back(
          add_input(name, scalar_tensor(value, DType::Float64), false, Descriptor::hyperparam(name)));
    }
  }

  // The module's inputs, then the target if the loss takes one.
  void add_batch_inputs(const nn::Args& batch) {
    const bool has_target = options_.loss != LossKind::ModelOutput;
    AG_CHECK(!has_target || !batch.empty(), "train step: --loss {} needs a target as the batch's last input",
             loss_kind_name(options_.loss));
    for (size_t i = 0; i < batch.size(); ++i) {
      AG_CHECK(batch[i].is_leaf() && batch[i].leaf().is_tensor(), "train step: batch input {} is not a tensor", i);
      std::vector<int64_t> dims;
      for (const DynamicDim& d : options_.export_options.dynamic)
        if (static_cast<size_t>(d.input) == i) dims.push_back(d.dim);
      Tensor p = add_input("batch_" + std::to_string(i), batch[i].tensor(), false,
                           Descriptor::plain_input(static_cast<int64_t>(i)), dims);
      if (has_target && i + 1 == batch.size())
        target_ = p;
      else
        module_args_.emplace_back(p);
    }
  }

  void forward_and_loss() {
    ops::ModeGuard mode(&tracer_);
    autograd::EnableGradGuard grad_on;
    pytree::Value call = pytree::Value::tuple({pytree::Value::tuple(module_args_), pytree::Value::dict({})});
    model_params_ = params_;
    if (const auto& fsdp = options_.export_options.fully_sharded)
      model_params_ = detail::gather_sharded(params_, source_.params, *fsdp);
    auto outputs = source_.run(model_params_, buffers_, call, tracer_).first;
    AG_CHECK(outputs.size() == 1 && outputs[0].is_tensor(),
             "train step: the loss needs the module to return one tensor, but it returned {} output leaves",
             outputs.size());
    loss_ = training_loss(options_.loss, outputs[0].to_tensor(), target_);
    AG_CHECK(loss_.requires_grad(), "train step: the loss does not depend on any parameter that requires grad");
  }

  // Backward seeded with 1 on the loss, clipping, then the update of each parameter.
  void backward_and_update() {
    ops::ModeGuard mode(&tracer_);
    TensorList wrt;
    std::vector<size_t> wrt_index;
    for (size_t i = 0; i < params_.size(); ++i)
      if (source_.params[i].requires_grad) {
        wrt.push_back(model_params_[i]);
        wrt_index.push_back(i);
      }
    Tensor seed = ones_like(loss_);
    TensorList g = autograd::grad({loss_}, wrt, {seed}, /*allow_unused=*/true);
    autograd::NoGradGuard no_grad;  // the update is not differentiated
    TensorList used;
    std::vector<size_t> used_index;
    for (size_t k = 0; k < g.size(); ++k)
      if (g[k].defined()) {
        used.push_back(g[k]);
        used_index.push_back(wrt_index[k]);
      }
    AG_CHECK(!used.empty(), "train step: no parameter receives a gradient from the loss");
    const auto& fsdp = options_.export_options.fully_sharded;
    if (options_.export_options.data_parallel)
      used = all_reduce_gradients(used, *options_.export_options.data_parallel);
    if (fsdp) {
      TensorList by_param(params_.size());
      for (size_t k = 0; k < used.size(); ++k) by_param[used_index[k]] = used[k];
      by_param = detail::reduce_scatter_sharded(by_param, source_.params, *fsdp);
      for (size_t k = 0; k < used.size(); ++k) used[k] = by_param[used_index[k]];
    }
    if (options_.clip_max_norm) {
      annotate scope(Annotations{{"train_step", std::string("clip_grad_norm")}});
      // Sharded gradients: the norm's sum of squares is summed across the ranks.
      TensorList clipped = optim::clip_grad_norm(used, hyper_.at("max_norm"), /*sum_across_ranks=*/fsdp.has_value());
      grad_norm_ = clipped[0];
      used.assign(clipped.begin() + 1, clipped.end());
    }
    // The scalars every update shares, once per parameter dtype.
    std::vector<std::pair<DType, optim::HyperTensors>> shared;
    for (size_t k = 0; k < used.size(); ++k) {
      const size_t i = used_index[k];
      const DType dtype = params_[i].dtype();
      auto it = std::find_if(shared.begin(), shared.end(), [&](const auto& e) { return e.first == dtype; });
      if (it == shared.end()) {
        annotate scope(Annotations{{"train_step", std::string("optimizer")}});
        it = shared.insert(shared.end(), {dtype, options_.rule.shared_scalars(hyper_, dtype)});
      }
      result_.trainable.push_back(source_.params[i].fqn);
      // Every node of a parameter's update says so (get_custom_metadata lists them), so
      // passes that shard or move updates find them without pattern matching.
      annotate scope(Annotations{{"train_step", std::string("optimizer")}, {"param", source_.params[i].fqn}});
      TensorList next = options_.rule.update(params_[i], used[k], states_[i], hyper_, it->second);
      tracer_.set_value(params_[i], next[0]);
      for (size_t s = 0; s < states_[i].size(); ++s) tracer_.set_value(states_[i][s], next[s + 1]);
    }
  }

  // Mutations in input order, then the loss and the norm.
  void add_outputs() {
    const std::vector<size_t> written = inputs_.mutated();
    for (size_t i : written)
      AG_CHECK(inputs_.desc(i).kind() != Descriptor::Kind::PlainInput,
               "train step: the module writes into its input {} in place; a training step cannot return a new "
               "value for a batch input",
               inputs_.desc(i).str());
    detail::GraphOutputs outputs(tracer_);
    outputs.add_mutations(inputs_, written);
    outputs.add(loss_, Descriptor::plain_output(0));
    if (grad_norm_.defined()) outputs.add(grad_norm_, Descriptor::plain_output(1));
    gm_->in_spec = detail::flat_list_spec(inputs_.size());
    gm_->out_spec = detail::flat_list_spec(outputs.size());
    outputs.finish(*gm_);
  }
};
}  // namespace

TrainStepGraph aot_export_train_step(nn::Module& module, const nn::Args& batch, const TrainStepOptions& options) {
  hop::register_higher_order_ops();
  const detail::ForwardSource source = detail::module_source(module);
  try {
    StepTrace trace(source, options);
    return trace.run(batch, module.type_name() + "_train_step");
  } catch (Error& e) {
    e.add_context("while exporting the training step of " + source.name);
    throw;
  }
}

}  // namespace aotgrad::exporting
