#include "bench_parallel.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <vector>

#include "aotgrad/compile.h"
#include "aotgrad/dist.h"
#include "aotgrad/models.h"
#include "aotgrad/train_step.h"
#include "bench_whole_step.h"
#include "support/error.h"
#include "support/parallel.h"

namespace aotgrad::cli {

namespace {
using Clock = std::chrono::steady_clock;

// Median milliseconds of `steps` steps after 5 warm-up steps.
double time_steps(WholeStep& w, int steps) {
  for (int i = 0; i < 5; ++i) w.run();
  std::vector<double> ms;
  for (int i = 0; i < steps; ++i) {
    const auto t0 = Clock::now();
    w.run();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return median(ms);
}
}  // namespace

void print_parallel_bench(const std::string& model, int threads, int steps,
                          const exporting::DataParallelOptions& options) {
  dist::Job& job = dist::Job::join();
  AG_CHECK(job.launched_by_mpirun() && job.world_size() >= 2,
           "bench --parallel: run it under mpirun with 2 or more ranks (this is {} process{})", job.world_size(),
           job.launched_by_mpirun() ? " of mpirun" : ", not started by mpirun");
  set_num_threads(threads);
  const bool lead = job.rank() == 0;
  if (lead)
    std::printf("%-18s %6s %7s %10s %10s %10s %11s %11s %8s\n", "model", "ranks", "threads", "one_ms", "ddp_ms",
                "efficiency", "comm_ms", "blocked_ms", "hidden");
  const std::vector<std::string> todo =
      model.empty() ? std::vector<std::string>{"mlp_large", "transformer_block"} : std::vector<std::string>{model};
  for (const std::string& m : todo) {
    // One process alone: rank 0 runs, the others wait at the barrier.
    double one_ms = 0;
    if (lead) {
      WholeStep one(models::find_model(m));
      one_ms = time_steps(one, steps);
    }
    job.barrier();
    WholeStep ddp(models::find_model(m), options);
    job.barrier();
    job.reset_comm_stats();
    const double ddp_ms = time_steps(ddp, steps);
    const dist::Job::CommStats s = job.comm_stats();
    const double per_step = 1.0 / (steps + 5);  // the warm-up steps communicate too
    const double comm = s.collective_ms * per_step, blocked = s.blocked_ms * per_step;
    if (lead)
      std::printf("%-18s %6d %7d %10.3f %10.3f %9.2fx %11.3f %11.3f %7.0f%%\n", m.c_str(), job.world_size(), threads,
                  one_ms, ddp_ms, one_ms / ddp_ms, comm, blocked,
                  comm > 0 ? 100 * std::max(0.0, 1 - blocked / comm) : 0.0);
  }
}

}  // namespace aotgrad::cli
