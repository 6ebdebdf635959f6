// aotgrad bench --train-step: the whole training step compiled as one graph against
// the compiled joint graph with the eager optimizer, and the optimizer alone against
// the machine's copy bandwidth (docs/TRAIN_STEP.md, "Measured").
#include "bench_train_step.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "aotgrad/autograd.h"
#include "aotgrad/compile.h"
#include "aotgrad/optim.h"
#include "aotgrad/train_step.h"
#include "bench_whole_step.h"
#include "support/error.h"
#include "support/parallel.h"

namespace aotgrad::cli {

namespace {
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}
// The compiled joint graph, then the eager optimizer (its step() timed on its own too).
struct JointStep {
  models::Instance inst;
  std::optional<compile::CompiledFunction> compiled;
  optim::Optimizer optimizer;
  std::vector<double> optimizer_ms;
  explicit JointStep(const models::ModelInfo& info)
      : inst(models::instantiate(info)), optimizer(optim::parameters_of(*inst.module), bench_adamw()) {
    exporting::ExportOptions o;
    o.record_stack_traces = false;
    compiled = compile::aot_compile_joint_with_descriptors(
        exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, {}, o));
  }
  void run() {
    optimizer.zero_grad();
    autograd::backward(compiled->call_module(*inst.module, inst.example.args).tensor());
    const auto t0 = Clock::now();
    optimizer.step();
    optimizer_ms.push_back(ms_since(t0));
  }
};

// GB/s of copying `bytes` bytes (read + write counted, like the optimizer's traffic)
// with the current thread count: the median of `reps` copies.
double copy_gbs(int64_t bytes, int reps) {
  const auto half = static_cast<size_t>(std::max<int64_t>(bytes / 2, 64));
  std::vector<char> src(half, 1), dst(half, 0);
  std::vector<double> ms;
  constexpr int64_t kChunk = 64 * 1024;
  const auto chunks = static_cast<int64_t>((half + kChunk - 1) / kChunk);
  for (int r = 0; r < reps + 3; ++r) {
    const auto t0 = Clock::now();
    parallel_for(chunks, kChunk, [&](int64_t c0, int64_t c1) {
      const auto begin = static_cast<size_t>(c0 * kChunk), end = std::min(half, static_cast<size_t>(c1 * kChunk));
      std::memcpy(dst.data() + begin, src.data() + begin, end - begin);
    });
    if (r >= 3) ms.push_back(ms_since(t0));
  }
  return 2.0 * static_cast<double>(half) / (median(ms) * 1e6);
}
}  // namespace

TrainStepBench bench_train_step(const models::ModelInfo& info, int steps) {
  WholeStep whole(info);
  JointStep joint(info);
  TrainStepBench b;
  b.compile_ms = whole.step->compile_ms();
  for (int i = 0; i < 5; ++i) {
    whole.run();
    joint.run();
  }
  joint.optimizer_ms.clear();
  std::vector<double> w, j;
  for (int done = 0; done < steps; done += 5) {
    for (int i = 0; i < 5 && done + i < steps; ++i) {
      auto t0 = Clock::now();
      whole.run();
      w.push_back(ms_since(t0));
    }
    for (int i = 0; i < 5 && done + i < steps; ++i) {
      auto t0 = Clock::now();
      joint.run();
      j.push_back(ms_since(t0));
    }
  }
  b.whole_ms = median(w);
  b.joint_ms = median(j);
  b.eager_optimizer_ms = median(joint.optimizer_ms);
  // The optimizer's kernels in the whole step, from a profile of the same program.
  compile::KernelProfile prof;
  {
    compile::ProfileScope scope(prof);
    for (int i = 0; i < steps; ++i) whole.run();
  }
  b.whole_optimizer_ms = prof.phase_ms("optimizer") / steps;
  int64_t elements = 0;
  for (const auto& [name, p] : whole.inst.module->named_parameters()) elements += p.numel();
  // Per element: the parameter, exp_avg and exp_avg_sq read and written, the gradient read.
  b.optimizer_bytes = elements * static_cast<int64_t>(sizeof(float)) * 7;
  b.copy_gbs_same_size = copy_gbs(b.optimizer_bytes, 50);
  b.copy_gbs_dram = copy_gbs(int64_t{512} << 20, 5);
  return b;
}

}  // namespace aotgrad::cli
