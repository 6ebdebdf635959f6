// Splitting loops over the machine's cores.
//
// One thread pool (OpenMP's) serves every kernel; OpenBLAS keeps its own, and
// set_num_threads() sets both so that two pools never compete for two cores
// (BENCHMARKS.md). Small loops run on the calling thread: waking a second
// thread costs more than a few thousand flops.
#pragma once

#include <omp.h>

#include <cstdint>

namespace aotgrad {

/// Number of threads kernels may use (our OpenMP pool; OpenBLAS stays single-threaded,
/// see Note [One thread pool] in ops/cpu/gemm.cpp).
int num_threads();
/// Sets the thread count of every pool aotgrad uses.
void set_num_threads(int n);

/// While alive, num_threads() is 1 on this thread: the kernels of one thread's share
/// of a batch (Note [Batch shares] in compile/batch_shares.cpp) run serially and take
/// the decisions a one-thread run takes.
class OneThreadHere {
 public:
  OneThreadHere();
  ~OneThreadHere();
  OneThreadHere(const OneThreadHere&) = delete;
  OneThreadHere& operator=(const OneThreadHere&) = delete;

 private:
  bool prev_;
};

/// Whether a kernel called here runs serially whatever it asks for: one thread, or
/// already inside a parallel region (a thread's share of the images). A kernel that
/// would otherwise split its own work over the threads checks this first.
inline bool serial_here() {
  return num_threads() <= 1 || omp_in_parallel();
}

/// Below this much work (elements times a rough cost per element, about cycles) loops
/// stay serial: an OpenMP fork and join costs a few microseconds, which at 32K made
/// 2-thread relu on mlp_small's 8K elements ten times slower than 1 thread.
inline constexpr int64_t kParallelGrain = 131072;

/// Calls fn(begin, end) over [0, n) split into contiguous chunks, one per thread,
/// when n * cost is large enough to pay for the threads; otherwise once, serially.
template <typename F>
void parallel_for(int64_t n, int64_t cost_per_item, F&& fn) {
  if (n <= 0) return;
  int threads = num_threads();
  // Inside a parallel region (a batch of products, say) the work stays on this thread.
  if (threads <= 1 || n < 2 || n * cost_per_item < kParallelGrain || omp_in_parallel()) {
    fn(int64_t{0}, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    int t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t chunk = (n + nt - 1) / nt;
    int64_t b = t * chunk, e = b + chunk < n ? b + chunk : n;
    if (b < e) fn(b, e);
  }
}

/// The share [begin, end) of [0, n) that thread t of nt takes: contiguous, the
/// shares' sizes differing by at most one.
struct Share {
  int64_t begin, end;
};
inline Share thread_share(int64_t n, int t, int nt) {
  const int64_t per = n / nt, extra = n % nt;
  const int64_t b = t * per + (t < extra ? t : extra);
  return {b, b + per + (t < extra ? 1 : 0)};
}

/// Calls fn(t, nt) once on each of nt threads: a team of num_threads() when `work`
/// (about cycles) pays for it, else fn(0, 1) on this thread. fn splits the work
/// itself (thread_share), as it splits best.
template <typename F>
void for_each_thread(int64_t work, F&& fn) {
  const int threads = num_threads();
  if (threads <= 1 || work < kParallelGrain || omp_in_parallel()) {
    fn(0, 1);
    return;
  }
#pragma omp parallel num_threads(threads)
  fn(omp_get_thread_num(), omp_get_num_threads());
}

}  // namespace aotgrad
