// SGD and AdamW, with torch.optim's formulas (see the comments at each update).
#include "aotgrad/optim.h"

#include <cmath>

#include "aotgrad/autograd.h"
#include "aotgrad/ops.h"

namespace aotgrad::optim {

std::vector<Tensor> parameters_of(const nn::Module& module) {
  std::vector<Tensor> out;
  for (auto& [name, p] : module.named_parameters()) out.push_back(p);
  return out;
}

void Optimizer::zero_grad() {
  autograd::NoGradGuard no_grad;
  for (Tensor& p : params_) {
    if (p.grad().defined()) zero_(p.grad());
  }
}

SGD::SGD(std::vector<Tensor> params, double lr, double momentum, double weight_decay)
    : Optimizer(std::move(params)),
      lr_(lr),
      momentum_(momentum),
      weight_decay_(weight_decay),
      momentum_buffers_(params_.size()) {}

void SGD::step() {
  autograd::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (weight_decay_ != 0) g = add(g, p, weight_decay_);
    if (momentum_ != 0) {
      // buf = momentum * buf + g; the first step starts the buffer at g.
      Tensor& buf = momentum_buffers_[i];
      if (!buf.defined()) {
        buf = clone(g);
      } else {
        mul_(buf, scalar_tensor(momentum_, buf.dtype()));
        add_(buf, g);
      }
      g = buf;
    }
    add_(p, g, -lr_);
  }
}

AdamW::AdamW(std::vector<Tensor> params, double lr, double beta1, double beta2, double eps, double weight_decay)
    : Optimizer(std::move(params)),
      lr_(lr),
      beta1_(beta1),
      beta2_(beta2),
      eps_(eps),
      weight_decay_(weight_decay),
      exp_avg_(params_.size()),
      exp_avg_sq_(params_.size()) {}

void AdamW::step() {
  autograd::NoGradGuard no_grad;
  ++steps_;
  const double bias1 = 1 - std::pow(beta1_, static_cast<double>(steps_));
  const double bias2 = 1 - std::pow(beta2_, static_cast<double>(steps_));
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    if (!exp_avg_[i].defined()) {
      exp_avg_[i] = zeros_like(p);
      exp_avg_sq_[i] = zeros_like(p);
    }
    // Decoupled weight decay: p *= 1 - lr * wd, before the Adam update.
    mul_(p, scalar_tensor(1 - lr_ * weight_decay_, p.dtype()));
    // m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
    copy_(exp_avg_[i], add(mul(exp_avg_[i], beta1_), mul(g, 1 - beta1_)));
    copy_(exp_avg_sq_[i], add(mul(exp_avg_sq_[i], beta2_), mul(mul(g, g), 1 - beta2_)));
    // p -= (lr / bias1) * m / (sqrt(v) / sqrt(bias2) + eps)
    Tensor denom = add(div(sqrt(exp_avg_sq_[i]), std::sqrt(bias2)), eps_);
    add_(p, div(exp_avg_[i], denom), -lr_ / bias1);
  }
}

}  // namespace aotgrad::optim
