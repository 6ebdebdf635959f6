// SGD, Adam, AdamW and clip_grad_norm_ with torch.optim's formulas (1.13,
// foreach=False): Note [One update rule, three ways to run it] in optim.h. Each line
// names the torch statement it follows; the golden train-step README lists the
// rounding rules those statements imply.
#include "aotgrad/optim.h"

#include <algorithm>

#include "aotgrad/autograd.h"
#include "aotgrad/ops.h"
#include "support/error.h"

namespace aotgrad::optim {

namespace {
// A Python float meeting a tensor: rounded to the tensor's dtype first (float32 for
// float32 parameters), as PyTorch's wrapped numbers are.
Tensor in_dtype_of(const Tensor& tensor, const Tensor& scalar) {
  return to(scalar, tensor.dtype());
}
}  // namespace

const Tensor& HyperTensors::at(const std::string& name) const {
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return values.at(i);
  AG_FAIL("optimizer: no hyperparameter '{}' (this update has: {})", name, fmt::join(names, ", "));
}

HyperTensors HyperTensors::of(const Hyperparams& h) {
  HyperTensors t;
  for (const auto& [name, value] : h) {
    t.names.push_back(name);
    t.values.push_back(scalar_tensor(value, DType::Float64));
  }
  return t;
}

UpdateRule UpdateRule::sgd(const SGDOptions& o) {
  AG_CHECK(o.lr >= 0 && o.momentum >= 0 && o.weight_decay >= 0,
           "SGD: lr, momentum and weight_decay must be >= 0, but got lr={}, momentum={}, weight_decay={}", o.lr,
           o.momentum, o.weight_decay);
  AG_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
           "SGD: nesterov momentum requires a momentum and zero dampening (got momentum={}, dampening={})", o.momentum,
           o.dampening);
  UpdateRule r;
  r.kind_ = Kind::SGD;
  r.sgd_ = o;
  r.hyper_.emplace_back("lr", o.lr);
  if (o.momentum != 0) r.hyper_.emplace_back("momentum", o.momentum);
  if (o.momentum != 0 && o.dampening != 0) r.hyper_.emplace_back("dampening", o.dampening);
  if (o.weight_decay != 0) r.hyper_.emplace_back("weight_decay", o.weight_decay);
  return r;
}

UpdateRule UpdateRule::adam(const AdamOptions& o) {
  AG_CHECK(o.lr >= 0 && o.eps >= 0 && o.weight_decay >= 0,
           "{}: lr, eps and weight_decay must be >= 0, but got {}, {}, {}", o.decoupled_weight_decay ? "AdamW" : "Adam",
           o.lr, o.eps, o.weight_decay);
  AG_CHECK(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1,
           "Adam: betas must be in [0, 1), but got ({}, {})", o.beta1, o.beta2);
  UpdateRule r;
  r.kind_ = Kind::Adam;
  r.adam_ = o;
  r.hyper_ = {{"lr", o.lr}, {"beta1", o.beta1}, {"beta2", o.beta2}, {"eps", o.eps}};
  if (o.weight_decay != 0) r.hyper_.emplace_back("weight_decay", o.weight_decay);
  return r;
}

std::string UpdateRule::name() const {
  if (kind_ == Kind::SGD) return "SGD";
  return adam_.decoupled_weight_decay ? "AdamW" : "Adam";
}

std::vector<std::string> UpdateRule::state_names() const {
  if (kind_ == Kind::Adam) return {"step", "exp_avg", "exp_avg_sq"};
  if (sgd_.momentum == 0) return {};
  if (sgd_.dampening != 0) return {"momentum_buffer", "step"};
  return {"momentum_buffer"};
}

void UpdateRule::set_hyperparam(const std::string& name, double value) {
  std::string known;
  for (auto& [n, v] : hyper_) {
    if (n == name) {
      v = value;
      return;
    }
    known += (known.empty() ? "" : ", ") + n;
  }
  AG_FAIL("{}: no hyperparameter '{}' (this one has: {})", this->name(), name, known);
}

double UpdateRule::hyperparam(const std::string& name) const {
  for (const auto& [n, v] : hyper_)
    if (n == name) return v;
  AG_FAIL("{}: no hyperparameter '{}'", this->name(), name);
}

TensorList UpdateRule::initial_state(const Tensor& param) const {
  TensorList s;
  for (const std::string& name : state_names())
    s.push_back(name == "step" ? scalar_tensor(0.0, DType::Float32) : zeros_like(param));
  return s;
}

HyperTensors UpdateRule::shared_scalars(const HyperTensors& h, DType dtype) const {
  HyperTensors s;
  auto add_scalar = [&](const char* name, const Tensor& value) {
    s.names.emplace_back(name);
    s.values.push_back(to(value, dtype));  // a Python float meeting a tensor of `dtype`
  };
  if (kind_ == Kind::SGD) {
    add_scalar("-lr", neg(h.at("lr")));
    if (sgd_.momentum != 0) add_scalar("momentum", h.at("momentum"));
    if (sgd_.weight_decay != 0) add_scalar("weight_decay", h.at("weight_decay"));
    return s;
  }
  add_scalar("beta1", h.at("beta1"));
  add_scalar("1-beta1", rsub(h.at("beta1"), Scalar(1.0)));
  add_scalar("beta2", h.at("beta2"));
  add_scalar("1-beta2", rsub(h.at("beta2"), Scalar(1.0)));
  add_scalar("eps", h.at("eps"));
  if (adam_.weight_decay != 0 && adam_.decoupled_weight_decay)
    add_scalar("1-lr*weight_decay", rsub(mul(h.at("lr"), h.at("weight_decay")), Scalar(1.0)));
  if (adam_.weight_decay != 0 && !adam_.decoupled_weight_decay) add_scalar("weight_decay", h.at("weight_decay"));
  return s;
}

TensorList UpdateRule::update(const Tensor& param, const Tensor& grad, const TensorList& state,
                              const HyperTensors& h) const {
  return update(param, grad, state, h, shared_scalars(h, param.dtype()));
}

TensorList UpdateRule::update(const Tensor& param, const Tensor& grad, const TensorList& state, const HyperTensors& h,
                              const HyperTensors& shared) const {
  AG_CHECK(state.size() == state_names().size(), "{}: expected {} state tensors for a parameter, but got {}", name(),
           state_names().size(), state.size());
  AG_CHECK(grad.sizes() == param.sizes(), "{}: the gradient is {}, but the parameter is {}", name(), grad.describe(),
           param.describe());
  Tensor g = grad;
  if (kind_ == Kind::SGD ? sgd_.maximize : adam_.maximize) g = neg(g);
  return kind_ == Kind::SGD ? sgd_update(param, g, state, h, shared) : adam_update(param, g, state, h, shared);
}

TensorList UpdateRule::sgd_update(const Tensor& p, Tensor g, const TensorList& state, const HyperTensors& h,
                                  const HyperTensors& shared) const {
  TensorList out(1 + state.size());
  // d_p = d_p.add(param, alpha=weight_decay)
  if (sgd_.weight_decay != 0) g = add(g, mul(p, shared.at("weight_decay")));
  if (sgd_.momentum != 0) {
    const Tensor& momentum = shared.at("momentum");
    // buf.mul_(momentum).add_(d_p, alpha=1 - dampening). The first step sets buf = d_p:
    // the buffer starts at zeros, so momentum * 0 + 1 * d_p is d_p exactly, and the
    // coefficient 1 - dampening * min(step, 1) is 1 on the first step only.
    Tensor decayed = mul(state[0], momentum);
    Tensor buf;
    if (sgd_.dampening != 0) {
      const Tensor& step = state[1];
      Tensor seen = clamp(to(step, DType::Float64), std::nullopt, Scalar(1.0));
      Tensor coefficient = in_dtype_of(p, rsub(mul(h.at("dampening"), seen), Scalar(1.0)));
      buf = add(decayed, mul(g, coefficient));
      out[2] = add(step, Scalar(1.0));
    } else {
      buf = add(decayed, g);
    }
    out[1] = buf;
    // nesterov: d_p = d_p.add(buf, alpha=momentum); otherwise d_p = buf
    g = sgd_.nesterov ? add(g, mul(buf, momentum)) : buf;
  }
  // param.add_(d_p, alpha=-lr)
  out[0] = add(p, mul(g, shared.at("-lr")));
  return out;
}

TensorList UpdateRule::adam_update(const Tensor& p, Tensor g, const TensorList& state, const HyperTensors& h,
                                   const HyperTensors& shared) const {
  const Tensor &lr = h.at("lr"), &beta1 = h.at("beta1"), &beta2 = h.at("beta2");  // float64
  // step_t += 1
  Tensor step = add(state[0], Scalar(1.0));
  Tensor param = p;
  if (adam_.weight_decay != 0) {
    if (adam_.decoupled_weight_decay)
      param = mul(param, shared.at("1-lr*weight_decay"));  // AdamW: param.mul_(1 - lr * weight_decay)
    else
      g = add(g, mul(param, shared.at("weight_decay")));  // Adam: grad = grad.add(param, alpha=weight_decay)
  }
  // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
  Tensor exp_avg = add(mul(state[1], shared.at("beta1")), mul(g, shared.at("1-beta1")));
  // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
  Tensor weighted = mul(g, shared.at("1-beta2"));
  Tensor exp_avg_sq = add(mul(state[2], shared.at("beta2")), mul(weighted, g));
  // bias_correction = 1 - beta ** step, in Python floats (step_t.item())
  Tensor t = to(step, DType::Float64);
  Tensor bias_correction1 = rsub(pow(beta1, t), Scalar(1.0));
  Tensor bias_correction2 = rsub(pow(beta2, t), Scalar(1.0));
  Tensor step_size = div(lr, bias_correction1);
  Tensor bias_correction2_sqrt = sqrt(bias_correction2);
  // denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
  Tensor denom = add(div(sqrt(exp_avg_sq), in_dtype_of(p, bias_correction2_sqrt)), shared.at("eps"));
  // param.addcdiv_(exp_avg, denom, value=-step_size)
  Tensor new_param = add(param, div(mul(exp_avg, in_dtype_of(p, neg(step_size))), denom));
  return {new_param, step, exp_avg, exp_avg_sq};
}

TensorList clip_grad_norm(const TensorList& grads, const Tensor& max_norm, bool sum_across_ranks) {
  AG_CHECK(!grads.empty(), "clip_grad_norm: no gradients");
  // norms = [torch.norm(g, 2) for g in grads]; total_norm = torch.norm(torch.stack(norms), 2)
  TensorList norms;
  for (const Tensor& g : grads) norms.push_back(sqrt(sum(mul(g, g))));
  Tensor stacked = stack(norms);
  Tensor squares = sum(mul(stacked, stacked));
  // Each rank holds a shard of every gradient: the whole norm is the root of the
  // squares summed over the ranks.
  if (sum_across_ranks) squares = wait_tensor(all_reduce(squares, "sum"));
  Tensor total = sqrt(squares);
  // clip_coef = max_norm / (total_norm + 1e-6), i.e. (total_norm + 1e-6).reciprocal() * max_norm
  Tensor coef = mul(reciprocal(add(total, Scalar(1e-6))), in_dtype_of(total, max_norm));
  Tensor clamped = clamp(coef, std::nullopt, Scalar(1.0));
  TensorList out{total};
  for (const Tensor& g : grads) out.push_back(mul(g, clamped));
  return out;
}

Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm) {
  autograd::NoGradGuard no_grad;
  TensorList grads;
  for (const Tensor& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return scalar_tensor(0.0, DType::Float32);
  TensorList r = clip_grad_norm(grads, scalar_tensor(max_norm, DType::Float64));
  for (size_t i = 0; i < grads.size(); ++i) copy_(grads[i], r[i + 1]);
  return r[0];
}

Optimizer::Optimizer(std::vector<Tensor> params, UpdateRule rule)
    : params_(std::move(params)), rule_(std::move(rule)), state_(params_.size()) {}

void Optimizer::zero_grad() {
  autograd::NoGradGuard no_grad;
  for (Tensor& p : params_) {
    if (p.grad().defined()) zero_(p.grad());
  }
}

void Optimizer::set_state(size_t i, const TensorList& state) {
  AG_CHECK(i < params_.size(), "optimizer: no parameter {} (it has {})", i, params_.size());
  AG_CHECK(state.size() == rule_.state_names().size(), "optimizer: {} keeps {} state tensors per parameter, got {}",
           rule_.name(), rule_.state_names().size(), state.size());
  autograd::NoGradGuard no_grad;
  TensorList mine = rule_.initial_state(params_[i]);
  for (size_t k = 0; k < state.size(); ++k) {
    AG_CHECK(state[k].sizes() == mine[k].sizes() && state[k].dtype() == mine[k].dtype(),
             "optimizer: state '{}' of parameter {} must be {}, but got {}", rule_.state_names()[k], i,
             mine[k].describe(), state[k].describe());
    copy_(mine[k], state[k]);
  }
  state_[i] = std::move(mine);
}

void Optimizer::step() {
  autograd::NoGradGuard no_grad;
  const HyperTensors h = HyperTensors::of(rule_.hyperparams());
  std::vector<std::pair<DType, HyperTensors>> shared;  // per parameter dtype
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    if (!p.grad().defined()) continue;
    if (state_[i].empty() && !rule_.state_names().empty()) state_[i] = rule_.initial_state(p);
    auto it = std::find_if(shared.begin(), shared.end(), [&](const auto& e) { return e.first == p.dtype(); });
    if (it == shared.end()) it = shared.insert(shared.end(), {p.dtype(), rule_.shared_scalars(h, p.dtype())});
    TensorList next = rule_.update(p, p.grad(), state_[i], h, it->second);
    copy_(p, next[0]);
    for (size_t k = 0; k < state_[i].size(); ++k) copy_(state_[i][k], next[k + 1]);
  }
}

std::vector<Tensor> parameters_of(const nn::Module& module) {
  std::vector<Tensor> out;
  for (auto& [name, p] : module.named_parameters()) out.push_back(p);
  return out;
}

SGD::SGD(std::vector<Tensor> params, const SGDOptions& options)
    : Optimizer(std::move(params), UpdateRule::sgd(options)) {}

SGD::SGD(std::vector<Tensor> params, double lr, double momentum, double weight_decay)
    : SGD(std::move(params), SGDOptions{lr, momentum, 0, weight_decay, false, false}) {}

Adam::Adam(std::vector<Tensor> params, AdamOptions options)
    : Optimizer(std::move(params), UpdateRule::adam([&] {
                  options.decoupled_weight_decay = false;
                  return options;
                }())) {}

AdamW::AdamW(std::vector<Tensor> params, AdamOptions options)
    : Optimizer(std::move(params), UpdateRule::adam([&] {
                  options.decoupled_weight_decay = true;
                  return options;
                }())) {}

AdamW::AdamW(std::vector<Tensor> params, double lr, double beta1, double beta2, double eps, double weight_decay)
    : AdamW(std::move(params), AdamOptions{lr, beta1, beta2, eps, weight_decay, true, false}) {}

}  // namespace aotgrad::optim
