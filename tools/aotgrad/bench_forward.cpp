#include "bench_forward.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "aotgrad/autograd.h"
#include "aotgrad/export.h"
#include "support/error.h"
#include "support/parallel.h"

namespace aotgrad::cli {

namespace {
double median_ms(int steps, const std::function<void()>& run) {
  for (int i = 0; i < 5; ++i) run();
  std::vector<double> ms;
  for (int i = 0; i < steps; ++i) {
    auto start = std::chrono::steady_clock::now();
    run();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// The module with every parameter frozen: its joint graph is the forward alone.
models::Instance frozen_instance(const models::ModelInfo& info) {
  models::Instance inst = models::instantiate(info);
  for (auto& [name, slot] : inst.module->parameter_slots()) slot->set_requires_grad(false);
  return inst;
}

// Each node's median over `steps` profiled calls, slowest first. Medians, not sums:
// on a shared machine one slow call would otherwise decide a node's place.
std::vector<std::pair<std::string, double>> node_medians(int steps, const std::function<void()>& run) {
  std::map<std::string, std::vector<double>> per_node;
  for (int i = 0; i < steps; ++i) {
    compile::KernelProfile prof;
    prof.per_node = true;
    {
      compile::ProfileScope scope(prof);
      run();
    }
    for (const auto& e : prof.entries) per_node[e.kernel].push_back(e.ms);
  }
  std::vector<std::pair<std::string, double>> rows;
  for (auto& [node, ms] : per_node) {
    std::sort(ms.begin(), ms.end());
    rows.emplace_back(node, ms[ms.size() / 2]);
  }
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return rows;
}

void print_node_medians(const ForwardBench& b) {
  double total = 0;
  std::printf("  %-64s %10s %7s\n", "kernel node", "median_ms", "share");
  for (const auto& [node, ms] : b.node_ms) total += ms;
  for (const auto& [node, ms] : b.node_ms)
    std::printf("  %-64.64s %10.4f %6.1f%%\n", node.c_str(), ms, 100 * ms / b.compiled_ms);
  std::printf("  nodes' medians sum to %.4f ms of the %.4f ms forward\n", total, b.compiled_ms);
}
}  // namespace

ForwardBench bench_forward(const models::ModelInfo& info, int steps, const compile::CompileOptions& options,
                           bool profile) {
  models::Instance eager = frozen_instance(info), compiled = frozen_instance(info);
  exporting::ExportOptions export_options;
  export_options.record_stack_traces = false;
  auto joint = exporting::aot_export_joint_with_descriptors(*compiled.module, compiled.example.args,
                                                            compiled.example.kwargs, export_options);
  compile::CompiledFunction fn = compile::aot_compile_joint_with_descriptors(joint, options);
  autograd::NoGradGuard no_grad;
  ForwardBench b;
  b.compile_ms = fn.compile_ms();
  b.eager_ms = median_ms(steps, [&] { (*eager.module)(eager.example.args, eager.example.kwargs); });
  auto run_compiled = [&] { fn.call_module(*compiled.module, compiled.example.args, compiled.example.kwargs); };
  b.compiled_ms = median_ms(steps, run_compiled);
  b.batch_shares = fn.last_batch_shares();
  b.why_no_batch_shares = fn.why_no_batch_shares();
  if (profile) b.node_ms = node_medians(steps, run_compiled);
  return b;
}

void print_forward_bench(const models::ModelInfo& info, const std::vector<int>& threads, int steps, bool json,
                         const compile::CompileOptions& options, bool profile) {
  if (!json)
    std::printf("%-22s %3s %14s %17s %8s %6s\n", "model", "thr", "eager_fwd_ms", "compiled_fwd_ms", "speedup",
                "shares");
  for (int t : threads) {
    AG_CHECK(t > 0, "bench: --threads must be positive, got {}", t);
    set_num_threads(t);
    ForwardBench b = bench_forward(info, steps, options, profile);
    if (json)
      std::printf(
          "{\"model\": \"%s\", \"threads\": %d, \"eager_forward_ms\": %.4f, \"compiled_forward_ms\": %.4f, "
          "\"batch_shares\": %lld}\n",
          info.name.c_str(), t, b.eager_ms, b.compiled_ms, static_cast<long long>(b.batch_shares));
    else
      std::printf("%-22s %3d %14.3f %17.3f %7.2fx %6lld\n", info.name.c_str(), t, b.eager_ms, b.compiled_ms,
                  b.eager_ms / b.compiled_ms, static_cast<long long>(b.batch_shares));
    if (!json && t > 1 && b.batch_shares == 1 && !b.why_no_batch_shares.empty())
      std::printf("  one program for the whole batch: %s\n", b.why_no_batch_shares.c_str());
    if (!b.node_ms.empty()) print_node_medians(b);
    std::fflush(stdout);
  }
}

}  // namespace aotgrad::cli
