#include "bench_parallel.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <set>
#include <vector>

#include "aotgrad/compile.h"
#include "aotgrad/dist.h"
#include "aotgrad/models.h"
#include "aotgrad/train_step.h"
#include "bench_whole_step.h"
#include "export/collective_schedule.h"
#include "ops/collective.h"
#include "support/error.h"
#include "support/parallel.h"

namespace aotgrad::cli {

namespace {
using Clock = std::chrono::steady_clock;
constexpr int kWarmup = 5, kRounds = 5;

// Appends the milliseconds of each of `steps` steps to `ms`.
void time_steps(WholeStep& w, int steps, std::vector<double>& ms) {
  for (int i = 0; i < steps; ++i) {
    const auto t0 = Clock::now();
    w.run();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
}

// The parameter + gradient + optimizer-state bytes of one rank at their peak (the
// issue's measure, activations left out): the parameters and optimizer state the
// step keeps, plus, at the instruction where they are largest, the arena's buffers
// holding a gathered parameter (fsdp's gathers) or a gradient (what a bucket packs
// or a reduce-scatter reads, back through views to the node that made it, and the
// collectives' results).
int64_t param_grad_state_bytes(const WholeStep& w) {
  const graph::Graph& g = *w.graph.graph_module->graph;
  auto phase = [](const graph::Node& n) {  // a ddp or fsdp node's phase, or null
    int64_t index = -1;
    const std::string* what = exporting::detail::collective_phase(n, "fsdp_group", "fsdp", index);
    return what != nullptr ? what : exporting::detail::collective_phase(n, "ddp_bucket", "ddp", index);
  };
  std::set<std::string> param_or_grad;
  for (const auto& n : g.nodes()) {
    const std::string* what = phase(*n);
    if (what == nullptr) continue;
    param_or_grad.insert(n->name());
    if (what->find("gather") != std::string::npos) continue;  // a parameter's gather
    for (const graph::Node* in : n->input_nodes()) {          // the gradient it packs or reduces
      while (exporting::detail::is_view_node(*in) && !in->input_nodes().empty()) in = in->input_nodes()[0];
      if (phase(*in) == nullptr) param_or_grad.insert(in->name());
    }
  }
  const compile::ProgramStats stats = w.step->stats();
  size_t end = 0;
  for (const auto& b : stats.arena_buffers) end = std::max(end, b.last + 1);
  std::vector<int64_t> live(end + 1, 0);
  for (const auto& b : stats.arena_buffers)
    if (param_or_grad.count(b.node))
      for (size_t i = b.first; i <= b.last; ++i) live[i] += b.bytes;
  int64_t bytes = *std::max_element(live.begin(), live.end());
  for (size_t i = 0; i < w.state.keys.size(); ++i) {
    const auto kind = w.state.keys[i].kind();
    if (kind == Descriptor::Kind::ParamInput || kind == Descriptor::Kind::OptimizerStateInput)
      bytes += w.state.values[i].numel() * dtype_size(w.state.values[i].dtype());
  }
  return bytes;
}

struct Measured {
  double one_ms = 0, ms = 0, comm_ms = 0, blocked_ms = 0;
  // Per rank: all of it (kept state + arena), and parameters + gradients + optimizer
  // state alone (param_grad_state_bytes).
  double memory_mib = 0, state_memory_mib = 0;
};

// The median step of one process alone (rank 0; the others wait) and of `parallel`
// on every rank, timed in alternating rounds so that a machine whose speed drifts
// affects both alike; the communication per parallel step and the memory per rank.
Measured measure(const std::string& model, const exporting::ExportOptions& parallel, int steps, bool with_one) {
  dist::Job& job = dist::Job::join();
  const bool lead = job.rank() == 0;
  std::optional<WholeStep> one;
  if (with_one && lead) one.emplace(models::find_model(model));
  WholeStep par(models::find_model(model), parallel, job.rank());
  if (one)
    for (int i = 0; i < kWarmup; ++i) one->run();
  job.barrier();
  job.reset_comm_stats();
  for (int i = 0; i < kWarmup; ++i) par.run();
  std::vector<double> one_ms, par_ms;
  const int per_round = std::max(1, steps / kRounds);
  for (int r = 0; r < kRounds; ++r) {
    if (one) time_steps(*one, per_round, one_ms);
    job.barrier();
    time_steps(par, per_round, par_ms);
    job.barrier();
  }
  const dist::Job::CommStats s = job.comm_stats();
  Measured m;
  m.one_ms = one_ms.empty() ? 0 : median(one_ms);
  m.ms = median(par_ms);
  const double per_step = 1.0 / static_cast<double>(kWarmup + par_ms.size());  // warm-up steps communicate too
  m.comm_ms = s.collective_ms * per_step;
  m.blocked_ms = s.blocked_ms * per_step;
  m.memory_mib = static_cast<double>(par.memory_bytes()) / (1 << 20);
  m.state_memory_mib = static_cast<double>(param_grad_state_bytes(par)) / (1 << 20);
  return m;
}

// The transport alone, with no step running: the median milliseconds of an all_reduce,
// an all_gather and a reduce_scatter moving `floats` float32s (a gather of a 1/N shard
// each), started on the same backend and communication thread as the step's
// collectives, in buffers allocated once (as the step's arena is).
struct Transport {
  double all_reduce_ms = 0, all_gather_ms = 0, reduce_scatter_ms = 0;
};
Transport measure_transport(int64_t floats) {
  dist::Job& job = dist::Job::join();
  ops::CollectiveBackend* backend = ops::collective_backend();
  AG_INTERNAL_CHECK(backend != nullptr, "bench --parallel: no collective backend under mpirun");
  const int64_t n = job.world_size(), rows = (floats + n - 1) / n;
  const Tensor full = Tensor::zeros({rows * n}), shard = Tensor::zeros({rows});
  auto time = [&](auto&& start, const Tensor& result) {
    std::vector<double> ms;
    for (int i = 0; i < kWarmup + 10; ++i) {
      job.barrier();
      const auto t0 = Clock::now();
      start();
      backend->wait(result);
      if (i >= kWarmup) ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    return median(ms);
  };
  Transport t;
  t.all_reduce_ms = time([&] { backend->start_all_reduce(full, ops::ReduceOp::Avg); }, full);
  t.all_gather_ms = time([&] { backend->start_all_gather(full); }, full);
  t.reduce_scatter_ms = time([&] { backend->start_reduce_scatter(full, shard, ops::ReduceOp::Avg); }, shard);
  return t;
}

// What the transport alone allows: one step's parameter bytes gathered and its
// gradients reduce-scattered (fsdp keeping the gathered parameters), or all-reduced
// (ddp), with none of it hidden.
void print_transport(const std::string& model, double one_ms) {
  int64_t floats = 0;
  for (const auto& [name, p] : models::instantiate(models::find_model(model)).module->named_parameters())
    floats += p.numel();
  const Transport t = measure_transport(floats);
  if (dist::Job::join().rank() != 0) return;
  std::printf(
      "%-18s transport alone, %.1f MiB: all_reduce %.3f ms, all_gather %.3f ms, reduce_scatter %.3f ms;"
      " unhidden, they allow ddp %.2fx, fsdp %.2fx\n",
      model.c_str(), static_cast<double>(floats * 4) / (1 << 20), t.all_reduce_ms, t.all_gather_ms, t.reduce_scatter_ms,
      one_ms / (one_ms + t.all_reduce_ms), one_ms / (one_ms + t.all_gather_ms + t.reduce_scatter_ms));
}
}  // namespace

void print_parallel_bench(const std::string& model, int threads, int steps, const exporting::ExportOptions& parallel) {
  dist::Job& job = dist::Job::join();
  AG_CHECK(job.launched_by_mpirun() && job.world_size() >= 2,
           "bench --parallel: run it under mpirun with 2 or more ranks (this is {} process{})", job.world_size(),
           job.launched_by_mpirun() ? " of mpirun" : ", not started by mpirun");
  set_num_threads(threads);
  const bool lead = job.rank() == 0, fsdp = parallel.fully_sharded.has_value();
  const char* name = fsdp ? "fsdp" : "ddp";
  if (lead) {
    std::printf("%-18s %6s %7s %10s %9s_ms %10s %11s %11s %8s %9s_MiB", "model", "ranks", "threads", "one_ms", name,
                "efficiency", "comm_ms", "blocked_ms", "hidden", name);
    std::printf(fsdp ? " %11s %9s %8s_pgs %11s %9s\n" : "\n", "ddp_MiB", "ratio", name, "ddp_pgs", "ratio_pgs");
  }
  const std::vector<std::string> todo =
      model.empty() ? std::vector<std::string>{"mlp_large", "transformer_block"} : std::vector<std::string>{model};
  std::vector<std::pair<std::string, double>> one_ms;
  for (const std::string& m : todo) {
    const Measured p = measure(m, parallel, steps, true);
    one_ms.emplace_back(m, p.one_ms);
    std::optional<Measured> ddp;
    if (fsdp) {
      exporting::ExportOptions o;
      o.data_parallel = exporting::DataParallelOptions{};
      ddp = measure(m, o, kRounds, false);  // for its memory
    }
    if (!lead) continue;
    std::printf("%-18s %6d %7d %10.3f %12.3f %9.2fx %11.3f %11.3f %7.0f%% %13.1f", m.c_str(), job.world_size(), threads,
                p.one_ms, p.ms, p.one_ms / p.ms, p.comm_ms, p.blocked_ms,
                p.comm_ms > 0 ? 100 * std::max(0.0, 1 - p.blocked_ms / p.comm_ms) : 0.0, p.memory_mib);
    if (ddp)
      std::printf(" %11.1f %8.2fx %12.1f %11.1f %8.2fx\n", ddp->memory_mib, p.memory_mib / ddp->memory_mib,
                  p.state_memory_mib, ddp->state_memory_mib, p.state_memory_mib / ddp->state_memory_mib);
    else
      std::printf("\n");
  }
  for (const auto& [m, ms] : one_ms) print_transport(m, ms);
}

}  // namespace aotgrad::cli
