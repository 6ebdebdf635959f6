#include "train_loop.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <random>

#include <optional>

#include "aotgrad/autograd.h"
#include "aotgrad/export.h"
#include "aotgrad/models.h"
#include "aotgrad/ops.h"
#include "aotgrad/optim.h"
#include "data/digits.h"
#include "support/error.h"

namespace aotgrad::cli {

namespace {
Tensor logits_of(nn::Module& model, const Tensor& x) {
  return model({x}).tensor();
}

double accuracy(nn::Module& model, const data::Dataset& d) {
  autograd::NoGradGuard no_grad;
  std::vector<int64_t> pred = argmax(logits_of(model, d.images), 1).to_vector<int64_t>();
  std::vector<int64_t> y = d.labels.to_vector<int64_t>();
  int64_t correct = 0;
  for (size_t i = 0; i < y.size(); ++i) correct += pred[i] == y[i];
  return static_cast<double>(correct) / static_cast<double>(std::max<size_t>(y.size(), 1));
}
}  // namespace

TrainResult train_digits(const TrainOptions& o) {
  const models::ModelInfo& info = models::find_model(o.model);
  AG_CHECK(info.kind == models::Kind::Digits,
           "train: model '{}' is not a digits classifier (use digits_mlp or digits_cnn)", o.model);
  auto [train, test] = data::split(data::load_digits(o.data_file), 0.2, 0);
  models::Instance inst = models::instantiate(info);
  nn::Module& model = *inst.module;
  model.train();
  optim::SGD sgd(optim::parameters_of(model), o.lr, o.momentum);

  const int64_t n = train.labels.numel();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 shuffle_rng(1);
  TrainResult r;
  // The compiled step: the joint graph of the model on one batch's shape. Batches
  // are always full, so one graph serves every step. Stack traces are for people
  // reading graphs, not for training.
  std::optional<compile::CompiledFunction> step;
  if (o.compiled) {
    const auto t0 = std::chrono::steady_clock::now();
    exporting::ExportOptions export_options;
    export_options.record_stack_traces = false;
    Tensor example = index(train.images, {Tensor::from_vector<int64_t>(std::vector<int64_t>(o.batch, 0), {o.batch})});
    auto joint = exporting::aot_export_joint_with_descriptors(model, {example}, {}, export_options);
    step = compile::aot_compile_joint_with_descriptors(joint, o.compile_options);
    r.compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  auto forward = [&](const Tensor& x) { return step ? step->call_module(model, {x}).tensor() : logits_of(model, x); };
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  bool done = false;
  for (int64_t epoch = 0; epoch < o.epochs && !done; ++epoch) {
    std::shuffle(order.begin(), order.end(), shuffle_rng);
    for (int64_t b = 0; b + o.batch <= n; b += o.batch) {
      Tensor idx =
          Tensor::from_vector<int64_t>(std::vector<int64_t>(order.begin() + b, order.begin() + b + o.batch), {o.batch});
      sgd.zero_grad();
      Tensor loss = cross_entropy(forward(index(train.images, {idx})), index(train.labels, {idx}));
      autograd::backward(loss);
      sgd.step();
      ++r.steps;
      r.final_loss = loss.item<double>();
      if (!o.quiet && (r.steps % 25 == 0 || r.steps == 1)) {
        std::printf("\r  epoch %2lld  step %5lld  loss %.4f  %8.0f samples/s", static_cast<long long>(epoch + 1),
                    static_cast<long long>(r.steps), r.final_loss,
                    static_cast<double>(r.steps * o.batch) / std::max(elapsed(), 1e-9));
        std::fflush(stdout);
      }
      if (o.max_steps > 0 && r.steps >= o.max_steps) {
        done = true;
        break;
      }
    }
  }
  if (!o.quiet) std::printf("\n");
  model.eval();
  r.test_accuracy = accuracy(model, test);
  r.seconds = elapsed();
  return r;
}

}  // namespace aotgrad::cli
