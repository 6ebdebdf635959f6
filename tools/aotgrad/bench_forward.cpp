#include "bench_forward.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>

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
}  // namespace

ForwardBench bench_forward(const models::ModelInfo& info, int steps, const compile::CompileOptions& options) {
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
  b.compiled_ms =
      median_ms(steps, [&] { fn.call_module(*compiled.module, compiled.example.args, compiled.example.kwargs); });
  return b;
}

void print_forward_bench(const models::ModelInfo& info, const std::vector<int>& threads, int steps, bool json,
                         const compile::CompileOptions& options) {
  if (!json) std::printf("%-22s %3s %14s %17s %8s\n", "model", "thr", "eager_fwd_ms", "compiled_fwd_ms", "speedup");
  for (int t : threads) {
    AG_CHECK(t > 0, "bench: --threads must be positive, got {}", t);
    set_num_threads(t);
    ForwardBench b = bench_forward(info, steps, options);
    if (json)
      std::printf("{\"model\": \"%s\", \"threads\": %d, \"eager_forward_ms\": %.4f, \"compiled_forward_ms\": %.4f}\n",
                  info.name.c_str(), t, b.eager_ms, b.compiled_ms);
    else
      std::printf("%-22s %3d %14.3f %17.3f %7.2fx\n", info.name.c_str(), t, b.eager_ms, b.compiled_ms,
                  b.eager_ms / b.compiled_ms);
    std::fflush(stdout);
  }
}

}  // namespace aotgrad::cli
