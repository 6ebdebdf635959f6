// Data-parallel and fully-sharded equivalence on the benchmark models, run by ctest
// under `mpirun -np 2` (parallel_equivalence): every rank trains mlp_large and
// transformer_block for 5 steps on its half of the example batch, under --parallel
// ddp (gradients averaged) and under --parallel fsdp (parameters, gradients and
// optimizer state sharded), then trains a fresh copy in this process alone on the
// whole batch; parameters and optimizer state must agree within 1e-5 relative
// (+1e-7), for SGD with momentum and for AdamW — under fsdp each rank's shards
// against the same rows of the single process's tensors. Exit 1 naming the worst
// entry otherwise.
//
// The models run in float64. In float32 the two runs sum a gradient in different
// orders (two half-batch products averaged, or one whole-batch product), and where
// a gradient element cancels to the level of that rounding its sign can differ;
// AdamW's early updates are about lr * sign(gradient) whatever its size, so such an
// element moves by up to 2 lr in one run and not the other. That is float32's
// reduction order, not data parallelism; float64 leaves the algorithm to compare.
#include <cmath>
#include <cstdio>
#include <string>

#include "aotgrad/autograd.h"
#include "aotgrad/compile.h"
#include "aotgrad/dist.h"
#include "aotgrad/models.h"
#include "aotgrad/ops.h"
#include "aotgrad/train_step.h"

using namespace aotgrad;

namespace {
constexpr int kSteps = 5;

// The rows of every batch input that belong to `rank` of `world` (dim 0 split evenly).
nn::Args rows_of(const nn::Args& batch, int rank, int world) {
  nn::Args out;
  for (const auto& v : batch) {
    const Tensor& t = v.tensor();
    const int64_t n = t.size(0) / world;
    out.emplace_back(contiguous(slice(t, 0, rank * n, (rank + 1) * n)));
  }
  return out;
}

// Every floating parameter, buffer and batch input of the instance in float64.
void to_float64(models::Instance& inst) {
  autograd::NoGradGuard no_grad;
  for (auto& [name, slot] : inst.module->parameter_slots()) {
    if (!slot->is_floating_point()) continue;
    const bool requires_grad = slot->requires_grad();
    *slot = to(*slot, DType::Float64);
    slot->set_requires_grad(requires_grad);
  }
  for (auto& [name, slot] : inst.module->buffer_slots())
    if (slot->is_floating_point()) *slot = to(*slot, DType::Float64);
  for (auto& v : inst.example.args)
    if (v.tensor().is_floating_point()) v = pytree::Value(to(v.tensor(), DType::Float64));
}

enum class Parallel { None, Ddp, Fsdp };

// Trains a fresh instance of `model` for kSteps on `rank`'s rows of the example batch
// (all of it for Parallel::None) and returns its state: under Fsdp, its shards.
exporting::TrainState train(const std::string& model, const optim::UpdateRule& rule, Parallel how, int rank,
                            int world) {
  models::Instance inst = models::instantiate(models::find_model(model));
  to_float64(inst);
  const nn::Args batch = how != Parallel::None ? rows_of(inst.example.args, rank, world) : inst.example.args;
  exporting::TrainStepOptions o;
  o.loss = exporting::LossKind::ModelOutput;  // both models return their loss
  o.rule = rule;
  o.export_options.record_stack_traces = false;
  // Buckets of 256 KiB: several per model, each started inside the backward
  // (schedule_gradient_buckets); parallel_e2e covers the default single bucket.
  if (how == Parallel::Ddp) o.export_options.data_parallel = exporting::DataParallelOptions{int64_t{256} << 10};
  if (how == Parallel::Fsdp) o.export_options.fully_sharded = exporting::FullyShardedOptions{world, true};
  exporting::TrainStepGraph g = exporting::aot_export_train_step(*inst.module, batch, o);
  exporting::TrainState state = exporting::TrainState::for_module(*inst.module, g, rank);
  if (how == Parallel::Ddp)
    for (const Tensor& t : state.values) dist::Job::join().broadcast(t, 0);
  compile::CompiledTrainStep step = compile::aot_compile_train_step(g);
  for (int s = 0; s < kSteps; ++s) step(state, batch);
  return state;
}

// The single process's state as `rank` holds it under fsdp: its shard of every
// tensor the fsdp state holds sharded (shaped otherwise than the whole).
exporting::TrainState sharded_like(const exporting::TrainState& shards, const exporting::TrainState& whole, int rank,
                                   int world) {
  exporting::TrainState want = whole;
  for (size_t i = 0; i < want.keys.size(); ++i) {
    const Tensor* mine = shards.find(want.keys[i]);
    if (mine != nullptr && mine->sizes() != want.values[i].sizes())
      want.values[i] = exporting::shard_of(want.values[i], rank, world);
  }
  return want;
}

// How far `got` is from `want`, as a multiple of the tolerance (<= 1 passes).
double worst_excess(const exporting::TrainState& got, const exporting::TrainState& want, std::string& where) {
  double worst = 0;
  for (size_t i = 0; i < want.keys.size(); ++i) {
    std::vector<double> a = got.values[i].to_vector<double>(), b = want.values[i].to_vector<double>();
    for (size_t k = 0; k < b.size(); ++k) {
      const double excess = std::fabs(a[k] - b[k]) / (1e-5 * std::fabs(b[k]) + 1e-7);
      if (excess > worst) {
        worst = excess;
        where = want.keys[i].str() + ": " + std::to_string(a[k]) + " vs " + std::to_string(b[k]);
      }
    }
  }
  return worst;
}
}  // namespace

int main() {
  dist::Job& job = dist::Job::join();
  if (job.world_size() != 2) {
    std::fprintf(stderr, "parallel_equivalence: run me under mpirun -np 2 (got %d rank(s))\n", job.world_size());
    return 1;
  }
  int failures = 0;
  const std::pair<const char*, optim::UpdateRule> rules[] = {
      {"SGD momentum 0.9", optim::UpdateRule::sgd({0.01, 0.9, 0, 0, false, false})},
      {"AdamW", optim::UpdateRule::adam({1e-3, 0.9, 0.999, 1e-8, 0.01, true, false})}};
  for (const char* model : {"mlp_large", "transformer_block"}) {
    for (const auto& [name, rule] : rules) {
      const exporting::TrainState one = train(model, rule, Parallel::None, 0, 1);
      for (Parallel how : {Parallel::Ddp, Parallel::Fsdp}) {
        exporting::TrainState got = train(model, rule, how, job.rank(), job.world_size());
        exporting::TrainState want = one;
        if (how == Parallel::Fsdp) want = sharded_like(got, one, job.rank(), job.world_size());
        std::string where;
        const double excess = worst_excess(got, want, where);
        const bool ok = excess <= 1;
        failures += ok ? 0 : 1;
        if (job.rank() == 0 || !ok)
          std::printf(
              "rank %d: %s, %s, %s, %d steps: 2 ranks x half batch %s 1 process x batch (worst at %.2f of "
              "1e-5: %s)\n",
              job.rank(), how == Parallel::Ddp ? "ddp" : "fsdp", model, name, kSteps, ok ? "==" : "!=", excess,
              where.c_str());
      }
    }
  }
  return failures == 0 ? 0 : 1;
}
