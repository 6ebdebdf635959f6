// aotgrad bench: the four benchmark models of BENCHMARKS.md, measured side by side.
//
// Step time is the median of N training steps (zero grads, forward + loss, backward,
// SGD lr 0.01) after 5 warm-up steps, at each thread count. Peak memory needs a
// fresh process per model (a process's high-water mark never goes down), so the
// command re-runs itself with the hidden --measure-memory option and reads the
// child's VmHWM.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "aotgrad/autograd.h"
#include "aotgrad/export.h"
#include "aotgrad/models.h"
#include "aotgrad/optim.h"
#include "commands.h"
#include "support/error.h"
#include "support/parallel.h"

namespace aotgrad::cli {

namespace {
constexpr double kLearningRate = 0.01;
constexpr int kWarmupSteps = 5;

struct EagerTrainer {
  models::Instance inst;
  optim::SGD sgd;
  explicit EagerTrainer(const models::ModelInfo& info)
      : inst(models::instantiate(info)), sgd(optim::parameters_of(*inst.module), kLearningRate) {}
  void step() {
    sgd.zero_grad();
    Tensor loss = (*inst.module)(inst.example.args, inst.example.kwargs).tensor();
    autograd::backward(loss);
    sgd.step();
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double eager_step_ms(const models::ModelInfo& info, int steps) {
  EagerTrainer t(info);
  for (int i = 0; i < kWarmupSteps; ++i) t.step();
  std::vector<double> ms;
  for (int i = 0; i < steps; ++i) {
    auto start = std::chrono::steady_clock::now();
    t.step();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return median(ms);
}

/// Median time to export the joint graph (no decompositions) from a built module.
double export_ms(const models::ModelInfo& info, int repeats, bool stack_traces = true) {
  models::Instance inst = models::instantiate(info);
  exporting::ExportOptions options;
  options.record_stack_traces = stack_traces;
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    auto start = std::chrono::steady_clock::now();
    exporting::JointWithDescriptors joint = exporting::aot_export_joint_with_descriptors(
        *inst.module, inst.example.args, inst.example.kwargs, options);
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

std::optional<double> peak_rss_of_child(const std::string& model, int threads, int steps) {
  std::string cmd = fmt::format("/proc/{}/exe bench --measure-memory {} --threads {} --steps {}",
                                getpid(), model, threads, steps);
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

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "time training steps of the benchmark models");
  auto model = std::make_shared<std::string>();
  auto threads = std::make_shared<std::vector<int>>(std::vector<int>{1, 2});
  auto steps = std::make_shared<int>(50);
  auto json = std::make_shared<bool>(false);
  auto measure = std::make_shared<std::string>();
  cmd->add_option("--model", *model, "one benchmark model (default: all four)");
  cmd->add_option("--threads", *threads, "thread counts to measure")->capture_default_str();
  cmd->add_option("--steps", *steps, "timed steps per measurement")->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--json", *json, "one JSON object per line per (model, threads)");
  cmd->add_option("--measure-memory", *measure)->group("");  // internal: child process mode
  cmd->callback([=] {
    if (!measure->empty()) {
      set_num_threads(threads->front());
      EagerTrainer t(models::find_model(*measure));
      for (int i = 0; i < *steps; ++i) t.step();
      std::printf("%.3f\n", peak_rss_mb().value_or(-1));
      return;
    }
    std::vector<const models::ModelInfo*> todo;
    if (model->empty()) {
      for (const auto& m : models::all_models())
        if (m.kind == models::Kind::Benchmark) todo.push_back(&m);
    } else {
      const models::ModelInfo& m = models::find_model(*model);
      AG_CHECK(m.kind == models::Kind::Benchmark,
               "bench: '{}' is not a benchmark model (mlp_small, mlp_large, convnet, transformer_block)",
               *model);
      todo.push_back(&m);
    }
    if (!*json)
      std::printf("%-18s %7s %12s %14s %12s %14s %12s\n", "model", "threads", "export_ms",
                  "(no traces)", "compile_ms", "eager_step_ms", "peak_rss_mb");
    for (const models::ModelInfo* m : todo) {
      for (int t : *threads) {
        AG_CHECK(t > 0, "bench: --threads must be positive, got {}", t);
        set_num_threads(t);
        double step = eager_step_ms(*m, *steps);
        double export_time = export_ms(*m, 20);
        double export_plain = *json ? 0.0 : export_ms(*m, 20, false);
        std::optional<double> rss = peak_rss_of_child(m->name, t, *steps);
        if (*json) {
          std::printf("{\"model\": \"%s\", \"threads\": %d, \"export_ms\": %s, \"compile_ms\": null, "
                      "\"eager_step_ms\": %s, \"compiled_step_ms\": null, \"peak_rss_mb\": %s}\n",
                      m->name.c_str(), t, json_number(export_time).c_str(), json_number(step).c_str(),
                      json_number(rss).c_str());
        } else {
          std::printf("%-18s %7d %12.3f %14.3f %12s %14.3f %12s\n", m->name.c_str(), t, export_time,
                      export_plain, "-", step, rss ? fmt::format("{:.1f}", *rss).c_str() : "-");
        }
        std::fflush(stdout);
      }
    }
  });
}

}  // namespace aotgrad::cli
