// aotgrad bench: the four benchmark models of BENCHMARKS.md, measured side by side.
//
// Step time is the median of N training steps (zero grads, forward + loss, backward,
// SGD lr 0.01) after 5 warm-up steps, at each thread count: eager, compiled (the
// compiled joint graph with eager SGD) and whole (the step with SGD inside exported
// and compiled as one graph, which updates the parameters in place; benchmark models)
// (peak memory: of the compiled path; the table shows eager's beside it). Peak memory needs a
// fresh process per model (a process's high-water mark never goes down), so the
// command re-runs itself with the hidden --measure-memory option and reads the
// child's VmHWM.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "aotgrad/autograd.h"
#include "aotgrad/dist.h"
#include "aotgrad/export.h"
#include "aotgrad/models.h"
#include "aotgrad/optim.h"
#include "bench_bound.h"
#include "bench_dynamic.h"
#include "bench_forward.h"
#include "bench_gemm.h"
#include "bench_parallel.h"
#include "bench_step.h"
#include "bench_train_step.h"
#include "bench_whole_step.h"
#include "commands.h"
#include "compile_flags.h"
#include "model_flags.h"
#include "parallel_flags.h"
#include "support/error.h"
#include "support/parallel.h"

namespace aotgrad::cli {

namespace {
constexpr int kWarmupSteps = 5;

struct StepTimes {
  double eager_ms = 0, compiled_ms = 0, compile_ms = 0;
  std::optional<double> whole_ms;  // the whole step as one compiled graph (benchmark models only)
};

/// Median step times of eager, compiled joint + eager SGD and, for a benchmark model,
/// the whole step (SGD inside) as one compiled graph, alternating in rounds so that a
/// noisy neighbour slows them alike.
StepTimes step_times(const models::ModelInfo& info, int steps, const compile::CompileOptions& options) {
  BenchStep eager(info, std::nullopt), compiled(info, options);
  std::optional<WholeStep> whole;
  if (info.kind == models::Kind::Benchmark) whole.emplace(info, exporting::ExportOptions{}, 0, bench_sgd());
  StepTimes t;
  t.compile_ms = compiled.compiled()->compile_ms();
  const std::vector<std::function<void()>> runs{[&] { eager.run(); }, [&] { compiled.run(); },
                                                [&] {
                                                  if (whole) whole->run();
                                                }};
  for (int i = 0; i < kWarmupSteps; ++i)
    for (const auto& run : runs) run();
  std::vector<std::vector<double>> times(runs.size());
  constexpr int kRound = 5;
  for (int done = 0; done < steps; done += kRound) {
    for (size_t r = 0; r < runs.size(); ++r) {
      for (int i = 0; i < kRound && done + i < steps; ++i) {
        auto start = std::chrono::steady_clock::now();
        runs[r]();
        times[r].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
      }
    }
  }
  t.eager_ms = median(times[0]);
  t.compiled_ms = median(times[1]);
  if (whole) t.whole_ms = median(times[2]);
  return t;
}

/// The FLOPs of the products of a model's joint graph (bench_bound.h).
double joint_product_flops(const models::ModelInfo& info) {
  models::Instance inst = models::instantiate(info);
  exporting::JointWithDescriptors joint =
      exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs);
  return product_flops(*joint.graph_module);
}

/// Median time to export the joint graph (no decompositions) from a built module.
double export_ms(const models::ModelInfo& info, int repeats, bool stack_traces = true) {
  models::Instance inst = models::instantiate(info);
  exporting::ExportOptions options;
  options.record_stack_traces = stack_traces;
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    auto start = std::chrono::steady_clock::now();
    exporting::JointWithDescriptors joint =
        exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs, options);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return median(ms);
}

/// The process's peak resident set size in MiB (VmHWM), or nullopt if unreadable.
std::optional<double> peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return std::nullopt;
}

std::optional<double> peak_rss_of_child(const std::string& model, int threads, int steps, bool eager,
                                        const CompileFlags& flags) {
  std::string cmd = fmt::format(
      "/proc/{}/exe bench --measure-memory {} --threads {} --steps {}{} --policy {} "
      "--memory-budget {}{}",
      getpid(), model, threads, steps, eager ? " --eager" : "", flags.policy, flags.memory_budget,
      flags.no_fuse ? " --no-fuse" : "");
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return std::nullopt;
  char buf[128] = {0};
  std::optional<double> mb;
  if (std::fgets(buf, sizeof buf, p)) mb = std::strtod(buf, nullptr);
  if (pclose(p) != 0) return std::nullopt;
  return mb;
}

std::string json_number(std::optional<double> v) {
  return v ? fmt::format("{:.4f}", *v) : "null";
}
}  // namespace

// The benchmark models, or the one called `name`.
std::vector<const models::ModelInfo*> benchmark_models(const std::string& name) {
  std::vector<const models::ModelInfo*> todo;
  for (const auto& m : models::all_models())
    if (m.kind == models::Kind::Benchmark && (name.empty() || m.name == name)) todo.push_back(&m);
  AG_CHECK(!todo.empty(), "bench: '{}' is not a benchmark model (mlp_small, mlp_large, convnet, transformer_block)",
           name);
  return todo;
}

void print_train_step_bench(const std::string& model, const std::vector<int>& threads, int steps, bool json) {
  const std::vector<const models::ModelInfo*> todo = benchmark_models(model);
  if (!json)
    std::printf("%-18s %3s %9s %11s %8s %10s %10s %9s %9s %10s %6s %10s\n", "model", "thr", "whole_ms", "joint+eager",
                "speedup", "opt_whole", "opt_eager", "MB_moved", "opt_GB/s", "copy_GB/s", "of_copy", "dram_GB/s");
  for (const models::ModelInfo* m : todo)
    for (int t : threads) {
      AG_CHECK(t > 0, "bench: --threads must be positive, got {}", t);
      set_num_threads(t);
      TrainStepBench b = bench_train_step(*m, steps);
      const double mb = static_cast<double>(b.optimizer_bytes) / 1e6;
      const double gbs = static_cast<double>(b.optimizer_bytes) / (b.whole_optimizer_ms * 1e6);
      if (json)
        std::printf(
            "{\"model\": \"%s\", \"threads\": %d, \"whole_step_ms\": %.4f, \"joint_eager_step_ms\": %.4f, "
            "\"whole_optimizer_ms\": %.4f, \"eager_optimizer_ms\": %.4f, \"optimizer_bytes\": %lld, "
            "\"optimizer_gbs\": %.2f, \"copy_gbs_same_size\": %.2f, \"copy_gbs_dram\": %.2f}\n",
            m->name.c_str(), t, b.whole_ms, b.joint_ms, b.whole_optimizer_ms, b.eager_optimizer_ms,
            static_cast<long long>(b.optimizer_bytes), gbs, b.copy_gbs_same_size, b.copy_gbs_dram);
      else
        std::printf("%-18s %3d %9.3f %11.3f %7.2fx %10.4f %10.4f %9.2f %9.1f %10.1f %5.0f%% %10.1f\n", m->name.c_str(),
                    t, b.whole_ms, b.joint_ms, b.joint_ms / b.whole_ms, b.whole_optimizer_ms, b.eager_optimizer_ms, mb,
                    gbs, b.copy_gbs_same_size, 100 * gbs / b.copy_gbs_same_size, b.copy_gbs_dram);
      std::fflush(stdout);
    }
}

// The step table: export, compile, eager and compiled step times, peak memory of each.
void print_step_bench(const std::vector<const models::ModelInfo*>& todo, const std::vector<int>& threads, int steps,
                      bool json, const CompileFlags& flags,
                      const std::function<std::string(const models::ModelInfo&)>& child_model) {
  if (!json)
    std::printf("%-18s %7s %10s %12s %11s %14s %17s %8s %13s %13s %9s %9s %14s %9s\n", "model", "threads", "export_ms",
                "(no traces)", "compile_ms", "eager_step_ms", "compiled_step_ms", "speedup", "eager_rss_mb",
                "compiled_rss", "bound_ms", "x_bound", "whole_step_ms", "x_bound");
  for (const models::ModelInfo* m : todo) {
    const double flops = joint_product_flops(*m);
    for (int t : threads) {
      AG_CHECK(t > 0, "bench: --threads must be positive, got {}", t);
      set_num_threads(t);
      StepTimes st = step_times(*m, steps, flags.options());
      // The FLOP bound: the step's products at the best SGEMM rate of this run.
      const double sgemm = measured_sgemm_gflops(), bound_ms = flops / (sgemm * 1e6);
      double export_time = export_ms(*m, 20);
      double export_plain = json ? 0.0 : export_ms(*m, 20, false);
      std::optional<double> rss = peak_rss_of_child(child_model(*m), t, steps, false, flags);
      if (json) {
        std::printf(
            "{\"model\": \"%s\", \"threads\": %d, \"export_ms\": %s, \"compile_ms\": %s, "
            "\"eager_step_ms\": %s, \"compiled_step_ms\": %s, \"peak_rss_mb\": %s, \"product_gflop\": %.4f, "
            "\"sgemm_gflops\": %.1f, \"flop_bound_ms\": %.4f, \"whole_step_ms\": %s}\n",
            m->name.c_str(), t, json_number(export_time).c_str(), json_number(st.compile_ms).c_str(),
            json_number(st.eager_ms).c_str(), json_number(st.compiled_ms).c_str(), json_number(rss).c_str(),
            flops / 1e9, sgemm, bound_ms, json_number(st.whole_ms).c_str());
      } else {
        std::optional<double> eager_rss = peak_rss_of_child(child_model(*m), t, steps, true, flags);
        auto mb = [](std::optional<double> v) { return v ? fmt::format("{:.1f}", *v) : std::string("-"); };
        const std::string whole = st.whole_ms ? fmt::format("{:14.3f} {:8.2f}x", *st.whole_ms, *st.whole_ms / bound_ms)
                                              : fmt::format("{:>14} {:>9}", "-", "-");
        std::printf("%-18s %7d %10.3f %12.3f %11.2f %14.3f %17.3f %7.2fx %13s %13s %9.3f %8.2fx %s\n", m->name.c_str(),
                    t, export_time, export_plain, st.compile_ms, st.eager_ms, st.compiled_ms,
                    st.eager_ms / st.compiled_ms, mb(eager_rss).c_str(), mb(rss).c_str(), bound_ms,
                    st.compiled_ms / bound_ms, whole.c_str());
      }
      std::fflush(stdout);
    }
  }
}

namespace {
// What `bench` was asked for (its flags).
struct BenchRequest {
  std::vector<int> threads{1, 2};
  int steps = 50;
  bool json = false, eager_only = false, forward = false, train_step = false, gemm = false, profile = false;
  std::string measure;
  int64_t batch = 0;
};

void run_bench(const BenchRequest& r, const ModelFlags& model_flags, const CompileFlags& flags,
               const ParallelFlags& parallel) {
  const std::string& model = model_flags.model;
  if (r.gemm) {
    AG_CHECK(model_flags.onnx.empty(), "bench --gemm: the GEMM benchmark runs the benchmark models (not --onnx)");
    return print_gemm_bench(benchmark_models(model), r.threads, r.json);
  }
  if (r.batch > 0) return print_batch_bench(model, r.batch, r.threads.front(), r.steps, r.json, flags.options());
  if (parallel.any()) {
    exporting::ExportOptions o;
    parallel.apply(o, dist::Job::join().world_size());
    return print_parallel_bench(model, r.threads.front(), r.steps, o);
  }
  std::optional<models::ModelInfo> imported;
  if (!model_flags.onnx.empty()) imported = model_flags.resolve();
  AG_CHECK(!r.profile || r.forward, "bench --profile: times inference node by node, so it needs --forward");
  AG_CHECK(!r.profile || !r.json, "bench --profile: the per-node table is text; drop --json or --profile");
  if (r.forward)
    return print_forward_bench(imported ? *imported : models::find_model(model), r.threads, r.steps, r.json,
                               flags.options(), r.profile);
  if (r.train_step) {
    AG_CHECK(!imported, "bench --train-step: the whole-step benchmark runs the benchmark models (not --onnx)");
    return print_train_step_bench(model, r.threads, r.steps, r.json);
  }
  if (!r.measure.empty()) {
    set_num_threads(r.threads.front());
    BenchStep t(imported ? *imported : models::find_model(r.measure),
                r.eager_only ? std::nullopt : std::optional<compile::CompileOptions>(flags.options()));
    for (int i = 0; i < r.steps; ++i) t.run();
    std::printf("%.3f\n", peak_rss_mb().value_or(-1));
    return;
  }
  const std::vector<const models::ModelInfo*> todo =
      imported ? std::vector<const models::ModelInfo*>{&*imported} : benchmark_models(model);
  // The child process measuring memory builds the same model: a name, or the file again.
  auto child_model = [&](const models::ModelInfo& m) {
    std::string arg = imported ? fmt::format("onnx --onnx '{}'", model_flags.onnx) : m.name;
    for (const std::string& s : model_flags.input_shapes) arg += fmt::format(" --input-shape '{}'", s);
    return arg;
  };
  print_step_bench(todo, r.threads, r.steps, r.json, flags, child_model);
}
}  // namespace

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "time training steps of the benchmark models");
  auto r = std::make_shared<BenchRequest>();
  auto model_flags = add_model_flags(cmd, "one benchmark model (default: all four)");
  cmd->add_flag("--forward", r->forward, "time inference (no gradients), eager and compiled");
  cmd->add_flag("--profile", r->profile,
                "with --forward: time the compiled forward node by node, and print each node's median");
  cmd->add_option("--threads", r->threads, "thread counts to measure")->capture_default_str();
  cmd->add_option("--steps", r->steps, "timed steps per measurement")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--json", r->json, "one JSON object per line per (model, threads)");
  cmd->add_option("--measure-memory", r->measure)->group("");  // internal: child process mode
  cmd->add_flag("--eager", r->eager_only)->group("");          // internal: the child measures eager
  cmd->add_flag("--train-step", r->train_step,
                "time the whole training step with AdamW inside against the compiled joint + eager AdamW");
  cmd->add_option("--batch", r->batch,
                  "run the steps at this batch size: exported at it, against exported once with a symbolic batch")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--gemm", r->gemm,
                "time the models' matrix products through aotgrad's GEMM and through OpenBLAS, in GFLOP/s");
  auto flags = add_compile_flags(cmd);
  auto parallel = add_parallel_flags(cmd);
  cmd->callback([=] { run_bench(*r, *model_flags, *flags, *parallel); });
}

}  // namespace aotgrad::cli
