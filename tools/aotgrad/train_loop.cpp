#include "train_loop.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <numeric>
#include <random>
#include <tuple>

#include "aotgrad/autograd.h"
#include "aotgrad/dist.h"
#include "aotgrad/export.h"
#include "aotgrad/graph.h"
#include "aotgrad/models.h"
#include "aotgrad/onnx.h"
#include "aotgrad/ops.h"
#include "aotgrad/trace.h"
#include "aotgrad/train_step.h"
#include "data/digits.h"
#include "support/error.h"

namespace aotgrad::cli {

namespace {
Tensor logits_of(nn::Module& model, const Tensor& x) {
  return model({x}).tensor();
}

// Predictions in batches of `batch` (an imported model takes only its declared batch
// size); the last batch is padded with zero rows, whose predictions are dropped.
double accuracy(nn::Module& model, const data::Dataset& d, int64_t batch) {
  autograd::NoGradGuard no_grad;
  std::vector<int64_t> pred;
  const int64_t n = d.images.size(0);
  for (int64_t b = 0; b < n; b += batch) {
    const int64_t k = std::min(batch, n - b);
    Tensor x = slice(d.images, 0, b, b + k);
    if (k < batch) x = cat({x, zeros({batch - k, x.size(1)}, x.dtype())}, 0);
    std::vector<int64_t> p = argmax(logits_of(model, x), 1).to_vector<int64_t>();
    pred.insert(pred.end(), p.begin(), p.begin() + k);
  }
  std::vector<int64_t> y = d.labels.to_vector<int64_t>();
  int64_t correct = 0;
  for (size_t i = 0; i < y.size(); ++i) correct += pred[i] == y[i];
  return static_cast<double>(correct) / static_cast<double>(std::max<size_t>(y.size(), 1));
}

// One way of running a training step on (images, labels); returns the loss.
class StepRunner {
 public:
  virtual ~StepRunner() = default;
  virtual double run(const Tensor& x, const Tensor& y) = 0;
  /// Checkpoints: only the whole-step graph names every piece of state by descriptor.
  /// The state one process would hold (every rank calls it under --parallel).
  virtual exporting::TrainState whole_state() { AG_FAIL("train: checkpoints need the whole-step graph"); }
  /// Reads a checkpoint into the state; returns the steps it had done.
  virtual int64_t resume(const std::string&) { AG_FAIL("train: checkpoints need the whole-step graph"); }
  /// After the last step: the module holds the trained parameters.
  virtual void finish() {}
  /// The batch sizes the compiled step was compiled for (0 when eager).
  virtual int64_t sizes_compiled() const { return 0; }
};

// Under --parallel every rank starts from rank 0's parameters, buffers and optimizer
// state, as DDP does; FSDP shards them afterwards, each rank its own part.
class WholeStep : public StepRunner {
 public:
  WholeStep(nn::Module& model, const Tensor& x, const Tensor& y, const TrainOptions& o, int rank)
      : model_(model), rank_(rank), parallel_(o.parallel()) {
    exporting::TrainStepOptions so;
    so.loss = o.loss;
    so.rule = o.rule;
    so.clip_max_norm = o.clip_max_norm;
    so.export_options.record_stack_traces = false;  // for people reading graphs, not for training
    so.export_options.data_parallel = o.data_parallel;
    so.export_options.fully_sharded = o.fully_sharded;
    if (o.dynamic_batch) so.export_options.dynamic = {{0, 0}, {1, 0}};  // images and targets
    graph_ = exporting::aot_export_train_step(model, {x, y}, so);
    if (o.parallel()) {
      dist::Job& job = dist::Job::join();
      job.check_same("training step graph", dist::fingerprint(graph::to_json(*graph_.graph_module)));
      nn::NamedSlots slots = model.parameter_slots(), buffers = model.buffer_slots();
      slots.insert(slots.end(), buffers.begin(), buffers.end());
      for (auto& [name, slot] : slots) job.broadcast(*slot, 0);
    }
    state_ = exporting::TrainState::for_module(model, graph_, rank);
    step_ = compile::aot_compile_train_step(graph_, o.compile_options);
  }
  double run(const Tensor& x, const Tensor& y) override { return (*step_)(state_, {x, y}).at(0).item<double>(); }

  // Checkpoints hold the whole state; under FSDP every rank gathers and reads it.
  exporting::TrainState whole_state() override {
    if (!graph_.fully_sharded) return state_;
    return state_.unsharded(graph_, [](const Tensor& shard) { return dist::Job::join().all_gather(shard); });
  }
  int64_t resume(const std::string& path) override {
    exporting::TrainState whole = whole_state();
    const int64_t steps = exporting::load_checkpoint(path, whole);
    if (graph_.fully_sharded)
      state_ = whole.sharded(graph_, rank_);
    else if (parallel_)  // ddp: rank 0's copy wins
      for (const Tensor& t : state_.values) dist::Job::join().broadcast(t, 0);
    return steps;
  }
  void finish() override {
    if (graph_.fully_sharded) whole_state().write_into_module(model_);
  }
  int64_t sizes_compiled() const override { return step_->num_sizes_compiled(); }

 private:
  nn::Module& model_;
  int rank_;
  bool parallel_;
  exporting::TrainStepGraph graph_;
  exporting::TrainState state_;
  std::optional<compile::CompiledTrainStep> step_;
};

// The compiled joint graph (or the eager module) with the eager optimizer.
class JointOrEager : public StepRunner {
 public:
  JointOrEager(nn::Module& model, const Tensor& x, const TrainOptions& o)
      : model_(model), optimizer_(optim::parameters_of(model), o.rule), clip_(o.clip_max_norm), loss_(o.loss) {
    if (o.step != StepKind::Joint) return;
    exporting::ExportOptions export_options;
    export_options.record_stack_traces = false;
    if (o.dynamic_batch) export_options.dynamic = {{0, 0}};
    auto joint = exporting::aot_export_joint_with_descriptors(model, {x}, {}, export_options);
    compiled_ = compile::aot_compile_joint_with_descriptors(joint, o.compile_options);
  }
  double run(const Tensor& x, const Tensor& y) override {
    optimizer_.zero_grad();
    Tensor logits = compiled_ ? compiled_->call_module(model_, {x}).tensor() : logits_of(model_, x);
    Tensor loss = exporting::training_loss(loss_, logits, y);
    autograd::backward(loss);
    if (clip_) optim::clip_grad_norm_(optimizer_.params(), *clip_);
    optimizer_.step();
    return loss.item<double>();
  }
  int64_t sizes_compiled() const override { return compiled_ ? compiled_->num_sizes_compiled() : 0; }

 private:
  nn::Module& model_;
  optim::Optimizer optimizer_;
  std::optional<double> clip_;
  exporting::LossKind loss_;
  std::optional<compile::CompiledFunction> compiled_;
};

Tensor rows(const Tensor& t, const std::vector<int64_t>& order, int64_t begin, int64_t n) {
  return index(
      t, {Tensor::from_vector<int64_t>(std::vector<int64_t>(order.begin() + begin, order.begin() + begin + n), {n})});
}

// The batch size an imported model is traced at (its first input's first dimension).
int64_t batch_for(const TrainOptions& o, nn::Module& model) {
  auto* imported = dynamic_cast<onnx_io::OnnxModule*>(&model);
  if (!imported) return o.batch;
  const auto& inputs = imported->inputs();
  AG_CHECK(
      inputs.size() == 1 && inputs[0].shape.size() == 2 && inputs[0].shape[1] == 64 && is_floating(inputs[0].dtype),
      "train: {} must take one input of [B, 64] float images for the digits data; it takes {} input(s){}",
      imported->path(), inputs.size(), inputs.empty() ? "" : fmt::format(", the first {}", shape_str(inputs[0].shape)));
  return inputs[0].shape[0];
}

// Whether one graph can take every batch size: a built-in digits model, or an
// imported one whose file leaves the batch open (a dim_param).
bool batch_is_open(const models::ModelInfo& info, nn::Module& model) {
  if (info.kind == models::Kind::Digits) return true;
  auto* imported = dynamic_cast<onnx_io::OnnxModule*>(&model);
  return imported && imported->inputs()[0].is_open(0);
}

// Labels as the loss wants them: class indices, or one-hot rows for Mse.
Tensor targets(const TrainOptions& o, const Tensor& labels) {
  if (o.loss != exporting::LossKind::Mse) return labels;
  Tensor classes = Tensor::from_vector<int64_t>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 10});
  return to(eq(unsqueeze(labels, 1), classes), DType::Float32);
}
}  // namespace

namespace {
// The epochs: mini-batches shuffled per epoch with a fixed seed, so a resumed run sees
// the batches an uninterrupted one would; a progress line unless quiet.
void run_epochs(const TrainOptions& o, const data::Dataset& train, StepRunner& runner, TrainResult& r) {
  // Every rank shuffles alike and takes its `batch` rows of each global batch.
  const int64_t n = train.labels.numel(), batch = o.batch, global = batch * r.world_size, mine = batch * r.rank;
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 shuffle_rng(1);
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  int64_t done_here = 0;
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), shuffle_rng);
    // With a dynamic batch the last, smaller batch is a step too; else it is dropped.
    for (int64_t b = 0; o.dynamic_batch ? b < n : b + global <= n; b += global) {
      if (o.max_steps > 0 && r.steps >= o.max_steps) break;
      if (r.steps++ < r.resumed_from) continue;  // done before the checkpoint
      const int64_t size = std::min(batch, n - b - mine);
      r.final_loss =
          runner.run(rows(train.images, order, b + mine, size), targets(o, rows(train.labels, order, b + mine, size)));
      ++done_here;
      if (!o.quiet && (r.steps % 25 == 0 || done_here == 1)) {
        std::printf("\r  epoch %2lld  step %5lld  loss %.4f  %8.0f samples/s", static_cast<long long>(epoch + 1),
                    static_cast<long long>(r.steps), r.final_loss,
                    static_cast<double>(done_here * global) / std::max(elapsed(), 1e-9));
        std::fflush(stdout);
      }
    }
  }
  if (!o.quiet) std::printf("\n");
  r.seconds = elapsed();
}
}  // namespace

TrainResult train_digits(const TrainOptions& o) {
  const models::ModelInfo info = o.info ? *o.info : models::find_model(o.model);
  AG_CHECK(info.kind == models::Kind::Digits || info.kind == models::Kind::Imported,
           "train: model '{}' is not a digits classifier (use digits_mlp, digits_cnn or --onnx FILE)", info.name);
  AG_CHECK(o.step == StepKind::Whole || (o.save_path.empty() && o.resume_path.empty()),
           "train: checkpoints (--save, --resume) need the whole-step graph (the default; not --eager or --step "
           "joint)");
  auto [train, test] = data::split(data::load_digits(o.data_file), 0.2, 0);
  models::Instance inst = models::instantiate(info);
  nn::Module& model = *inst.module;
  model.train();
  TrainOptions opt = o;
  opt.batch = batch_for(o, model);
  opt.dynamic_batch = batch_is_open(info, model) && !o.parallel() && !o.drop_last;
  const int64_t batch = opt.batch;
  AG_CHECK(o.save_onnx_path.empty() || dynamic_cast<onnx_io::OnnxModule*>(&model),
           "train: --save FILE.onnx writes imported models back (train --onnx)");
  const int64_t n = train.labels.numel();
  AG_CHECK(n >= batch, "train: the training split has {} samples, fewer than one batch of {}", n, batch);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);  // the first batch, for the export's example

  TrainResult r;
  AG_CHECK(!o.parallel() || o.step == StepKind::Whole,
           "train: --parallel needs the whole-step graph (the default; not --eager or --step joint)");
  if (o.parallel()) {
    dist::Job& job = dist::Job::join();
    r.rank = job.rank();
    r.world_size = job.world_size();
    if (opt.fully_sharded) opt.fully_sharded->world_size = job.world_size();
    AG_CHECK(n >= batch * r.world_size, "train: the training split has {} samples, fewer than one global batch of {}",
             n, batch * r.world_size);
  }
  if (r.rank != 0) opt.quiet = true;
  // One graph serves every step: the batch size is a symbol, or batches are always full.
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t traces_before = trace::traces_started();
  std::unique_ptr<StepRunner> runner;
  const Tensor x0 = rows(train.images, order, 0, batch), y0 = targets(o, rows(train.labels, order, 0, batch));
  if (o.step == StepKind::Whole)
    runner = std::make_unique<WholeStep>(model, x0, y0, opt, r.rank);
  else
    runner = std::make_unique<JointOrEager>(model, x0, opt);
  if (o.step != StepKind::Eager)
    r.compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!o.resume_path.empty()) r.resumed_from = runner->resume(o.resume_path);

  run_epochs(opt, train, *runner, r);
  if (!o.save_path.empty()) {
    const exporting::TrainState whole = runner->whole_state();  // a collective under fsdp: every rank
    if (r.rank == 0) exporting::save_checkpoint(o.save_path, whole, r.steps);
  }
  runner->finish();
  std::tie(r.traces, r.sizes_compiled) = std::pair(trace::traces_started() - traces_before, runner->sizes_compiled());
  if (!o.save_onnx_path.empty() && r.rank == 0)
    onnx_io::save(dynamic_cast<onnx_io::OnnxModule&>(model), o.save_onnx_path);
  model.eval();
  r.test_accuracy = accuracy(model, test, batch);
  return r;
}

}  // namespace aotgrad::cli
