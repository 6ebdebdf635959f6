// Optimizers: SGD, Adam and AdamW exactly as torch.optim (1.13, single-tensor path)
// computes them, and clip_grad_norm_.
//
// Note [One update rule, three ways to run it]: an UpdateRule is the optimizer as
// data (which rule, its hyperparameters) plus its update written once, with tensor
// ops only, as a function of a parameter, its gradient, its state and the
// hyperparameters as 0-d float64 tensors. The eager Optimizer calls it on real
// tensors; the whole-step export (exporting::aot_export_train_step) calls it on
// proxies, so the same formula lands in the graph; the compiled step runs that graph.
// Hyperparameters are float64 tensors because torch.optim computes with Python
// floats: scalar arithmetic (bias corrections, lr / bc1) happens in double, and each
// value is rounded to float32 where it meets a float32 tensor, as PyTorch's wrapped
// numbers are.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "aotgrad/dtype.h"
#include "aotgrad/nn.h"
#include "aotgrad/tensor.h"

namespace aotgrad::optim {

/// torch.optim.SGD's settings.
struct SGDOptions {
  double lr = 0.01, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false;
};

/// torch.optim.Adam's settings; `decoupled_weight_decay` makes it AdamW.
struct AdamOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled_weight_decay = false, maximize = false;
};

/// Hyperparameter values by name, in UpdateRule::hyperparams() order.
using Hyperparams = std::vector<std::pair<std::string, double>>;

/// The hyperparameters as 0-d float64 tensors (graph inputs or eager constants).
struct HyperTensors {
  std::vector<std::string> names;
  TensorList values;
  /// The tensor called `name`; an internal error if there is none.
  const Tensor& at(const std::string& name) const;
  static HyperTensors of(const Hyperparams& h);
};

class UpdateRule {
 public:
  static UpdateRule sgd(const SGDOptions& o);
  static UpdateRule adam(const AdamOptions& o);

  /// "SGD", "Adam" or "AdamW".
  std::string name() const;
  /// Per-parameter state, in torch.optim's state_dict order: SGD "momentum_buffer"
  /// (none without momentum; plus a "step" counter when dampening is non-zero, because
  /// the first step skips dampening and a functional graph must know which step it
  /// is); Adam/AdamW "step", "exp_avg", "exp_avg_sq".
  std::vector<std::string> state_names() const;
  /// The hyperparameters that are inputs of the update (lr, momentum, …), in order.
  /// A term whose coefficient is 0 here is left out of the update, as torch.optim skips
  /// it; setting it non-zero later needs a new export.
  const Hyperparams& hyperparams() const { return hyper_; }
  void set_hyperparam(const std::string& name, double value);
  double hyperparam(const std::string& name) const;

  /// The state before the first step: zeros like `param` ("step": a 0-d float32 zero,
  /// as torch 1.13 stores it).
  TensorList initial_state(const Tensor& param) const;
  /// What every parameter's update shares: the hyperparameters rounded to `dtype` and
  /// the scalars made from them alone (1 − β1, 1 − lr·wd, −lr), computed once per step
  /// instead of once per parameter.
  HyperTensors shared_scalars(const HyperTensors& h, DType dtype) const;
  /// One step for one parameter: {new parameter, new state…}. Pure: the inputs are
  /// not written. Runs eagerly or under a trace. `shared` is shared_scalars(h, the
  /// parameter's dtype).
  TensorList update(const Tensor& param, const Tensor& grad, const TensorList& state, const HyperTensors& h,
                    const HyperTensors& shared) const;
  TensorList update(const Tensor& param, const Tensor& grad, const TensorList& state, const HyperTensors& h) const;

  bool is_sgd() const { return kind_ == Kind::SGD; }
  const SGDOptions& sgd_options() const { return sgd_; }
  const AdamOptions& adam_options() const { return adam_; }

 private:
  enum class Kind { SGD, Adam } kind_ = Kind::SGD;
  SGDOptions sgd_;
  AdamOptions adam_;
  Hyperparams hyper_;
  TensorList sgd_update(const Tensor& p, Tensor g, const TensorList& state, const HyperTensors& h,
                        const HyperTensors& shared) const;
  TensorList adam_update(const Tensor& p, Tensor g, const TensorList& state, const HyperTensors& h,
                         const HyperTensors& shared) const;
};

/// torch.nn.utils.clip_grad_norm_ (L2 norm), functionally: returns the total norm of all
/// gradients (0-d) followed by every gradient times min(1, max_norm / (total + 1e-6)).
/// `max_norm` is a 0-d float64 tensor.
/// With `sum_across_ranks`, each rank holds a shard of every gradient (FSDP): the
/// squares are summed across the ranks (an all_reduce) before the root.
TensorList clip_grad_norm(const TensorList& grads, const Tensor& max_norm, bool sum_across_ranks = false);

/// The same on parameters' .grad in place (the eager form); returns the total norm.
Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm);

/// An eager optimizer: handles to the parameters it updates (the module's tensors, so
/// updates are visible to the module), their state, and the rule.
class Optimizer {
 public:
  Optimizer(std::vector<Tensor> params, UpdateRule rule);
  virtual ~Optimizer() = default;
  /// Applies one update from each parameter's .grad (parameters without one are skipped).
  void step();
  /// Sets every parameter's .grad to zeros ("zero the gradients").
  void zero_grad();
  const std::vector<Tensor>& params() const { return params_; }
  UpdateRule& rule() { return rule_; }
  const UpdateRule& rule() const { return rule_; }
  /// Parameter i's state in rule().state_names() order (empty before its first step).
  const TensorList& state(size_t i) const { return state_.at(i); }
  /// Replaces parameter i's state (a checkpoint's); the tensors are copied in.
  void set_state(size_t i, const TensorList& state);

 protected:
  std::vector<Tensor> params_;
  UpdateRule rule_;
  std::vector<TensorList> state_;
};

/// Tensors of a module's named_parameters(), in order.
std::vector<Tensor> parameters_of(const nn::Module& module);

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, const SGDOptions& options);
  SGD(std::vector<Tensor> params, double lr, double momentum = 0.0, double weight_decay = 0.0);
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options);
};

class AdamW : public Optimizer {
 public:
  AdamW(std::vector<Tensor> params, AdamOptions options);
  AdamW(std::vector<Tensor> params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
        double weight_decay = 1e-2);
};

}  // namespace aotgrad::optim
