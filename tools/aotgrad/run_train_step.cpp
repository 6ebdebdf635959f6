#include "run_train_step.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "aotgrad/autograd.h"
#include "aotgrad/ops.h"
#include "support/error.h"

namespace aotgrad::cli {

namespace {
// One eager step of the same model, loss and optimizer, and the largest differences.
void check_against_eager(const models::ModelInfo& info, const exporting::TrainStepOptions& o, const nn::Args& batch,
                         const nn::Module& compiled_model, const exporting::TrainState& state) {
  models::Instance inst = models::instantiate(info);
  nn::Module& m = *inst.module;
  optim::Optimizer opt(optim::parameters_of(m), o.rule);
  const bool has_target = o.loss != exporting::LossKind::ModelOutput;
  nn::Args args(batch.begin(), batch.end() - (has_target ? 1 : 0));
  Tensor out = m(args).tensor();
  Tensor loss = exporting::training_loss(o.loss, out, has_target ? batch.back().tensor() : Tensor());
  autograd::backward(loss);
  if (o.clip_max_norm) optim::clip_grad_norm_(opt.params(), *o.clip_max_norm);
  opt.step();
  std::printf("%-72s %12s\n", "compiled whole step vs eager step", "max |diff|");
  bool ok = true;
  auto compare = [&](const std::string& what, const Tensor& got, const Tensor& want) {
    std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
    double worst = 0;
    bool close = true;
    for (size_t i = 0; i < g.size(); ++i) {
      worst = std::max(worst, std::abs(g[i] - w[i]));
      close = close && std::abs(g[i] - w[i]) <= 1e-5 + 1e-4 * std::abs(w[i]);
    }
    std::printf("%-72s %12.3g%s\n", what.c_str(), worst, close ? "" : "  MISMATCH");
    ok = ok && close;
  };
  const nn::NamedTensors got = compiled_model.named_parameters(), want = m.named_parameters();
  for (size_t i = 0; i < got.size(); ++i) compare("parameter " + got[i].first, got[i].second, want[i].second);
  const nn::NamedTensors gotb = compiled_model.named_buffers(), wantb = m.named_buffers();
  for (size_t i = 0; i < gotb.size(); ++i) compare("buffer " + gotb[i].first, gotb[i].second, wantb[i].second);
  const std::vector<std::string> keys = o.rule.state_names();
  for (size_t i = 0; i < want.size(); ++i)
    for (size_t k = 0; k < keys.size() && !opt.state(i).empty(); ++k) {
      const Descriptor d = Descriptor::optimizer_state(Descriptor::param(want[i].first), keys[k]);
      if (const Tensor* t = state.find(d)) compare(d.str(), *t, opt.state(i)[k]);
    }
  AG_CHECK(ok, "run --check: the compiled training step of {} differs from the eager one (see above)", info.name);
  std::printf("%s: the compiled whole step matches the eager step\n", info.name.c_str());
}
}  // namespace

void run_train_step(const models::ModelInfo& info, const OptimizerFlags& optimizer,
                    const compile::CompileOptions& options, bool check, int profile_steps) {
  models::Instance inst = models::instantiate(info);
  StepBatch b = step_batch_for(info, inst, optimizer.loss);
  exporting::TrainStepOptions o;
  o.loss = b.loss;
  o.rule = optimizer.rule(0.05, 0.9);
  o.clip_max_norm = optimizer.clip();
  exporting::TrainStepGraph g = exporting::aot_export_train_step(*inst.module, b.batch, o);
  if (!options.pipeline.stop_after.empty()) {
    compile::run_compile_passes(g, options);
    std::printf("stopped after pass '%s'\n", options.pipeline.stop_after.c_str());
    return;
  }
  compile::CompiledTrainStep step = compile::aot_compile_train_step(g, options);
  std::printf("compiled the training step of %s (%s loss, %s) in %.1f ms\n", info.name.c_str(),
              exporting::loss_kind_name(o.loss), optimizer.describe(0.05, 0.9).c_str(), step.compile_ms());
  print_stats("step", step.stats());
  std::printf("updates: %lld written into their inputs' storage, %lld copied back\n",
              static_cast<long long>(step.updated_in_place()), static_cast<long long>(step.copied_back()));
  exporting::TrainState state = exporting::TrainState::for_module(*inst.module, g);
  TensorList out = step(state, b.batch);
  std::printf("loss %.6g%s\n", out.at(0).item<double>(),
              out.size() > 1 ? fmt::format(", total gradient norm {:.6g}", out[1].item<double>()).c_str() : "");
  if (check) check_against_eager(info, o, b.batch, *inst.module, state);
  if (profile_steps <= 0) return;
  compile::KernelProfile prof;
  const auto start = std::chrono::steady_clock::now();
  {
    compile::ProfileScope scope(prof);
    for (int i = 0; i < profile_steps; ++i) step(state, b.batch);
  }
  const double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  print_kernel_table(prof, profile_steps, wall);
  std::printf("optimizer phase %.4f ms/step, clipping %.4f ms/step\n", prof.phase_ms("optimizer") / profile_steps,
              prof.phase_ms("clip_grad_norm") / profile_steps);
}

}  // namespace aotgrad::cli
