#include "optimizer_flags.h"

#include "aotgrad/autograd.h"
#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "support/error.h"

namespace aotgrad::cli {

namespace {
double or_default(double v, double fallback) {
  return std::isnan(v) ? fallback : v;
}
}  // namespace

optim::UpdateRule OptimizerFlags::rule(double sgd_lr, double sgd_momentum) const {
  if (optimizer == "sgd")
    return optim::UpdateRule::sgd({or_default(lr, sgd_lr), or_default(momentum, sgd_momentum), dampening,
                                   or_default(weight_decay, 0.0), nesterov, maximize});
  AG_CHECK(optimizer == "adam" || optimizer == "adamw", "unknown optimizer '{}' (expected sgd, adam or adamw)",
           optimizer);
  AG_CHECK(std::isnan(momentum) && !nesterov, "--momentum and --nesterov are SGD's; Adam has --beta1");
  const bool decoupled = optimizer == "adamw";
  return optim::UpdateRule::adam(
      {or_default(lr, 1e-3), beta1, beta2, eps, or_default(weight_decay, decoupled ? 1e-2 : 0.0), decoupled, maximize});
}

std::optional<double> OptimizerFlags::clip() const {
  if (std::isnan(clip_grad_norm)) return std::nullopt;
  AG_CHECK(clip_grad_norm > 0, "--clip-grad-norm must be positive, but got {}", clip_grad_norm);
  return clip_grad_norm;
}

std::string OptimizerFlags::describe(double sgd_lr, double sgd_momentum) const {
  const optim::UpdateRule r = rule(sgd_lr, sgd_momentum);
  std::string out = r.name();
  for (const auto& [name, value] : r.hyperparams()) out += fmt::format(" {} {:g}", name, value);
  if (auto c = clip()) out += fmt::format(", clip_grad_norm {:g}", *c);
  return out;
}

StepBatch step_batch_for(const models::ModelInfo& info, models::Instance& inst, const std::string& loss) {
  AG_CHECK(inst.example.kwargs.empty(),
           "train step: model '{}' takes keyword inputs; a training step takes a batch "
           "of positional inputs",
           info.name);
  Tensor out;
  {
    // The output's shape, from a forward in eval mode: a training-mode forward would
    // update running statistics before the step is even exported.
    autograd::NoGradGuard no_grad;
    const bool training = inst.module->is_training();
    inst.module->eval();
    pytree::Value result = (*inst.module)(inst.example.args, {});
    inst.module->train(training);
    AG_CHECK(result.is_leaf() && result.leaf().is_tensor(),
             "train step: model '{}' returns a structure; a loss needs one tensor", info.name);
    out = result.tensor();
  }
  StepBatch b{exporting::LossKind::Mse, inst.example.args};
  if (loss == "auto") {
    if (out.dim() == 0 && out.is_floating_point())
      b.loss = exporting::LossKind::ModelOutput;
    else if (info.kind == models::Kind::Digits)
      b.loss = exporting::LossKind::CrossEntropy;
  } else {
    b.loss = exporting::parse_loss_kind(loss);
  }
  manual_seed(1);
  if (b.loss == exporting::LossKind::Mse) b.batch.emplace_back(randn(out.sizes()));
  if (b.loss == exporting::LossKind::CrossEntropy) {
    AG_CHECK(out.dim() == 2, "train step: cross_entropy needs [batch, classes] logits, but model '{}' returns {}",
             info.name, out.describe());
    b.batch.emplace_back(Tensor::zeros({out.size(0)}, DType::Int64));
  }
  return b;
}

std::shared_ptr<OptimizerFlags> add_optimizer_flags(CLI::App* cmd) {
  auto f = std::make_shared<OptimizerFlags>();
  cmd->add_option("--optimizer", f->optimizer, "sgd, adam or adamw (torch.optim's rules)")
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}))
      ->capture_default_str();
  cmd->add_option("--lr", f->lr, "learning rate");
  cmd->add_option("--momentum", f->momentum, "SGD momentum");
  cmd->add_option("--dampening", f->dampening, "SGD dampening");
  cmd->add_flag("--nesterov", f->nesterov, "SGD with Nesterov momentum");
  cmd->add_option("--weight-decay", f->weight_decay, "weight decay (AdamW: decoupled; default 0.01)");
  cmd->add_option("--beta1", f->beta1, "Adam beta1")->capture_default_str();
  cmd->add_option("--beta2", f->beta2, "Adam beta2")->capture_default_str();
  cmd->add_option("--eps", f->eps, "Adam epsilon")->capture_default_str();
  cmd->add_flag("--maximize", f->maximize, "ascend instead of descend");
  cmd->add_option("--clip-grad-norm", f->clip_grad_norm, "clip_grad_norm_ to this total L2 norm before the update");
  cmd->add_option("--loss", f->loss, "auto, model_output, mse or cross_entropy")
      ->check(CLI::IsMember({"auto", "model_output", "mse", "cross_entropy"}))
      ->capture_default_str();
  return f;
}

}  // namespace aotgrad::cli
