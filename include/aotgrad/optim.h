// Optimizers: SGD (with momentum) and AdamW, following torch.optim's update rules.
//
// An optimizer holds handles to the parameters it updates (the module's tensors, so
// updates are visible to the module) and its per-parameter state. Updates run
// without recording autograd history.
#pragma once

#include <vector>

#include "aotgrad/nn.h"
#include "aotgrad/tensor.h"

namespace aotgrad::optim {

class Optimizer {
 public:
  explicit Optimizer(std::vector<Tensor> params) : params_(std::move(params)) {}
  virtual ~Optimizer() = default;
  /// Applies one update from each parameter's .grad (parameters without one are skipped).
  virtual void step() = 0;
  /// Sets every parameter's .grad to zeros ("zero the gradients").
  void zero_grad();
  const std::vector<Tensor>& params() const { return params_; }

 protected:
  std::vector<Tensor> params_;
};

/// Tensors of a module's named_parameters(), in order.
std::vector<Tensor> parameters_of(const nn::Module& module);

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, double lr, double momentum = 0.0, double weight_decay = 0.0);
  void step() override;

 private:
  double lr_, momentum_, weight_decay_;
  std::vector<Tensor> momentum_buffers_;  // undefined until the first step
};

class AdamW : public Optimizer {
 public:
  AdamW(std::vector<Tensor> params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
        double weight_decay = 1e-2);
  void step() override;

 private:
  double lr_, beta1_, beta2_, eps_, weight_decay_;
  int64_t steps_ = 0;
  std::vector<Tensor> exp_avg_, exp_avg_sq_;
};

}  // namespace aotgrad::optim
