#include "bench_dynamic.h"

#include <chrono>
#include <cstdio>

#include "bench_step.h"
#include "bench_whole_step.h"
#include "support/parallel.h"

namespace aotgrad::cli {

namespace {
constexpr int kWarmupSteps = 5;

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

void print_batch_bench(const std::string& model, int64_t batch, int threads, int steps, bool json,
                       const compile::CompileOptions& options) {
  set_num_threads(threads);
  if (!json)
    std::printf("%-18s %6s %14s %16s %8s %16s %14s\n", "model", "batch", "exact_step_ms", "symbolic_step_ms", "ratio",
                "first_call_ms", "sizes_compiled");
  for (const models::ModelInfo* info : benchmark_models(model)) {
    BenchStep exact(*info, options, BenchBatch{batch, false}), symbolic(*info, options, BenchBatch{batch, true});
    // The symbolic function's first call at this batch compiles its program.
    const auto first = std::chrono::steady_clock::now();
    symbolic.run();
    const double first_call_ms = ms_since(first);
    const double compile_ms = symbolic.compiled()->last_size_compile_ms();
    for (int i = 0; i < kWarmupSteps; ++i) {
      exact.run();
      symbolic.run();
    }
    // Alternating rounds, so a noisy neighbour slows both alike.
    std::vector<double> e, s;
    constexpr int kRound = 5;
    for (int done = 0; done < steps; done += kRound)
      for (auto [trainer, times] : {std::pair{&exact, &e}, std::pair{&symbolic, &s}})
        for (int i = 0; i < kRound && done + i < steps; ++i) {
          const auto start = std::chrono::steady_clock::now();
          trainer->run();
          times->push_back(ms_since(start));
        }
    const double em = median(e), sm = median(s);
    const auto sizes = static_cast<long long>(symbolic.compiled()->num_sizes_compiled());
    if (json)
      std::printf(
          "{\"model\": \"%s\", \"batch\": %lld, \"threads\": %d, \"exact_step_ms\": %.4f, \"symbolic_step_ms\": %.4f, "
          "\"ratio\": %.4f, \"first_call_ms\": %.4f, \"size_compile_ms\": %.4f, \"sizes_compiled\": %lld}\n",
          info->name.c_str(), static_cast<long long>(batch), threads, em, sm, sm / em, first_call_ms, compile_ms,
          sizes);
    else
      std::printf("%-18s %6lld %14.3f %16.3f %8.3f %9.2f (%4.2f) %14lld\n", info->name.c_str(),
                  static_cast<long long>(batch), em, sm, sm / em, first_call_ms, compile_ms, sizes);
  }
  if (!json)
    std::printf(
        "first_call_ms: the symbolic function's first step at this batch (in brackets: compiling its "
        "program for the size)\n");
}

}  // namespace aotgrad::cli
