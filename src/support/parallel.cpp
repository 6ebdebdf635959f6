#include "support/parallel.h"

#include <omp.h>

#include <atomic>
#include <cstdlib>

extern "C" void openblas_set_num_threads(int);

namespace aotgrad {
namespace {
int initial_threads() {
  if (const char* env = std::getenv("AOTGRAD_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  return omp_get_num_procs();
}
std::atomic<int> g_threads{0};
thread_local bool t_one_thread = false;
}  // namespace

OneThreadHere::OneThreadHere() : prev_(t_one_thread) {
  t_one_thread = true;
}
OneThreadHere::~OneThreadHere() {
  t_one_thread = prev_;
}

int num_threads() {
  if (t_one_thread) return 1;
  int n = g_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    set_num_threads(initial_threads());
    n = g_threads.load();
  }
  return n;
}

void set_num_threads(int n) {
  if (n < 1) n = 1;
  g_threads.store(n);
  omp_set_num_threads(n);
  // BLAS calls are split over our own threads (Note [One thread pool] in gemm.cpp).
  openblas_set_num_threads(1);
}

}  // namespace aotgrad
