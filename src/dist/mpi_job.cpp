// dist::Job on Open MPI: every MPI call runs on one communication thread (Note [One
// MPI thread]).
#include <mpi.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "aotgrad/dist.h"
#include "aotgrad/ops.h"
#include "ops/collective.h"
#include "support/error.h"

namespace aotgrad::dist {

// Note [One MPI thread]
// MPI is initialised with MPI_THREAD_FUNNELED on a thread of its own, which then
// makes every MPI call: jobs are queued to it and run in order. A kernel that starts
// an all_reduce queues it and returns; the wait_tensor for that buffer waits on its
// future. So the collective runs beside the step's computation, on a free core or on
// the time the computation leaves (Note [Communication on idle time]), without relying
// on MPI's progress inside non-blocking calls; and the order of collectives is the
// same on every rank because every rank runs the same graph.

// Note [Communication on idle time]
// mpirun binds each rank to one core (--bind-to core for up to two ranks, a socket
// for more), so the communication thread shares its core with the rank's computation.
// While it waits for a peer inside MPI it polls, and at normal priority the scheduler
// gives it half the core for that: on 2 ranks x 1 thread (Zen 4, 4 runs each) fsdp's
// weak scaling was 0.69-0.74 (mlp_large) and 0.75-0.88 (transformer_block). At
// SCHED_IDLE the thread runs only when the core has nothing else to do: on a free
// core, or while the computation is blocked in a wait_tensor. Then both ranks'
// collectives run together at full speed: fsdp 0.83-0.87 and 0.87-0.92, ddp unchanged
// (0.87-0.91 before, 0.89-0.91 after, mlp_large). What is given up: on a core the
// computation keeps busy, a collective started early waits for its wait_tensor to make
// progress, so hiding network latency between machines needs a core left free for it
// (mpirun --bind-to none, fewer threads). AOTGRAD_COMM_PRIORITY=normal keeps the
// thread at normal priority.
namespace {
// Whether the communication thread runs on idle time, from AOTGRAD_COMM_PRIORITY
// ('idle', the default, or 'normal'); read once, on the thread that joins the job.
bool comm_on_idle_time() {
  static const bool idle = [] {
    const char* wanted = std::getenv("AOTGRAD_COMM_PRIORITY");
    const std::string priority = wanted != nullptr ? wanted : "idle";
    AG_CHECK(priority == "idle" || priority == "normal",
             "dist: AOTGRAD_COMM_PRIORITY is '{}'; expected 'idle' or 'normal'", priority);
    return priority == "idle";
  }();
  return idle;
}

void run_on_idle_time() {
  sched_param none{};
  none.sched_priority = 0;
  if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &none) != 0)
    std::fprintf(stderr, "aotgrad: the communication thread could not be given idle priority; it keeps normal\n");
}

class CommThread {
 public:
  CommThread() : thread_([this] { loop(); }) {}
  ~CommThread() {
    run([] { MPI_Finalize(); }).get();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_one();
    thread_.join();
  }
  std::shared_future<void> run(std::function<void()> job) {
    auto task = std::make_shared<std::packaged_task<void()>>(std::move(job));
    std::shared_future<void> done = task->get_future().share();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back([task] { (*task)(); });
    }
    ready_.notify_one();
    return done;
  }

 private:
  void loop() {
    if (comm_on_idle_time()) run_on_idle_time();
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job();
    }
  }
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

MPI_Datatype mpi_type(DType dt) {
  switch (dt) {
    case DType::Float32:
      return MPI_FLOAT;
    case DType::Float64:
      return MPI_DOUBLE;
    case DType::Int64:
      return MPI_INT64_T;
    default:
      AG_FAIL("dist: no MPI type for {}", dtype_name(dt));
  }
}

// Note [Divide before reducing]
// all_reduce(t, 'avg') divides each rank's buffer by the world size and then sums, as
// DDP divides its buckets before reducing them. The other order costs a pass over
// memory that has gone cold: after MPI_Allreduce returns, a 7.4 MB bucket (mlp_large)
// took 1.3-1.5 ms to scale on the Zen 4, against 0.1 ms for the same pass before the
// call, while the bucket the `cat` just packed is still in cache. On two ranks sharing
// two cores that was a tenth of the step. Every rank gets the same sum either way; the
// two orders can differ in the last bit when the world size is not a power of two.
// reduce_scatter still scales its output after the call: its input is the gradient
// itself, which a kernel must not change.

class MpiJob final : public Job, public ops::CollectiveBackend {
 public:
  MpiJob() {
    comm_
        .run([this] {
          int provided = 0;
          MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
          // Errors come back as codes, so a failed call is an aotgrad error naming it.
          MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
          MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
          MPI_Comm_size(MPI_COMM_WORLD, &world_);
        })
        .get();
  }
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  bool launched_by_mpirun() const override { return true; }

  void broadcast(const Tensor& t, int root) override {
    AG_CHECK(t.is_contiguous(), "dist: broadcast needs a contiguous tensor, got {}", t.describe());
    int rc = MPI_SUCCESS;
    comm_
        .run([&] {
          // As bytes: any dtype, bit for bit.
          rc = MPI_Bcast(t.raw_data(), static_cast<int>(t.numel() * dtype_size(t.dtype())), MPI_BYTE, root,
                         MPI_COMM_WORLD);
        })
        .get();
    check(rc, "MPI_Bcast");
  }

  void check_same(const std::string& what, uint64_t fp) override {
    std::vector<uint64_t> all(static_cast<size_t>(world_));
    int rc = MPI_SUCCESS;
    comm_.run([&] { rc = MPI_Allgather(&fp, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD); }).get();
    check(rc, "MPI_Allgather");
    std::string differ;
    for (int r = 1; r < world_; ++r)
      if (all[static_cast<size_t>(r)] != all[0]) differ += (differ.empty() ? "" : ", ") + std::to_string(r);
    AG_CHECK(differ.empty(),
             "dist: the ranks do not run the same {}: rank(s) {} differ from rank 0 (another model, shape, option or "
             "aotgrad version?)",
             what, differ);
  }

  void start_all_reduce(const Tensor& buffer, ops::ReduceOp op) override {
    AG_CHECK(buffer.is_contiguous(), "dist: all_reduce needs a contiguous buffer, got {}", buffer.describe());
    check_mean(buffer, op);
    const Tensor b = buffer;  // keeps the storage alive until the job ran
    start(buffer, "MPI_Allreduce", [this, b, op] {
      // The mean divides first, as DDP does (Note [Divide before reducing]).
      if (op == ops::ReduceOp::Avg) scale(b, 1.0 / world_);
      return MPI_Allreduce(MPI_IN_PLACE, b.raw_data(), static_cast<int>(b.numel()), mpi_type(b.dtype()), MPI_SUM,
                           MPI_COMM_WORLD);
    });
  }

  void start_all_gather(const Tensor& buffer) override {
    AG_CHECK(buffer.is_contiguous(), "dist: all_gather needs a contiguous buffer, got {}", buffer.describe());
    const Tensor b = buffer;
    start(buffer, "MPI_Allgather", [this, b] {
      const auto count = static_cast<int>(b.numel() / world_);
      return MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, b.raw_data(), count, mpi_type(b.dtype()),
                           MPI_COMM_WORLD);
    });
  }

  void start_reduce_scatter(const Tensor& input, const Tensor& output, ops::ReduceOp op) override {
    AG_CHECK(input.is_contiguous() && output.is_contiguous(), "dist: reduce_scatter needs contiguous buffers");
    check_mean(output, op);
    const Tensor in = input, out = output;  // read and written until the wait (reads_input_until_waited)
    // MPI_Reduce_scatter with equal counts, not MPI_Reduce_scatter_block: Open MPI 4.1
    // runs the block form as a reduce to rank 0 and a scatter, 5x slower here (4 MB on
    // 2 ranks: 2.5 ms against 0.5 ms; 3 ranks: 5.5 against 1.4).
    start(output, "MPI_Reduce_scatter", [this, in, out, op] {
      std::vector<int> counts(static_cast<size_t>(world_), static_cast<int>(out.numel()));
      const int rc = MPI_Reduce_scatter(in.raw_data(), out.raw_data(), counts.data(), mpi_type(out.dtype()), MPI_SUM,
                                        MPI_COMM_WORLD);
      if (op == ops::ReduceOp::Avg && rc == MPI_SUCCESS) scale(out, 1.0 / world_);
      return rc;
    });
  }

  void wait(const Tensor& buffer) override {
    Pending p;
    {
      std::lock_guard<std::mutex> lock(pending_mutex_);
      auto it = pending_.find(buffer.raw_data());
      if (it == pending_.end()) return;  // nothing in flight (or already waited for)
      p = it->second;
      pending_.erase(it);
    }
    const auto t0 = std::chrono::steady_clock::now();
    p.done.wait();
    blocked_us_ += std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    check(*p.rc, p.call);
  }

  Tensor all_gather(const Tensor& shard) override {
    AG_CHECK(shard.is_contiguous() && shard.dim() >= 1, "dist: all_gather needs a contiguous tensor of 1+ dims, got {}",
             shard.describe());
    Shape sizes = shard.sizes();
    sizes[0] *= world_;
    Tensor out = Tensor::empty(sizes, shard.dtype());
    const int64_t bytes = shard.numel() * dtype_size(shard.dtype());
    std::memcpy(static_cast<char*>(out.raw_data()) + rank_ * bytes, shard.raw_data(), static_cast<size_t>(bytes));
    start_all_gather(out);
    wait(out);
    return out;
  }

  void barrier() override {
    int rc = MPI_SUCCESS;
    comm_.run([&] { rc = MPI_Barrier(MPI_COMM_WORLD); }).get();
    check(rc, "MPI_Barrier");
  }

  CommStats comm_stats() const override {
    return {static_cast<double>(collective_us_.load()) / 1000, static_cast<double>(blocked_us_.load()) / 1000,
            collectives_.load()};
  }
  void reset_comm_stats() override {
    collective_us_ = 0;
    blocked_us_ = 0;
    collectives_ = 0;
  }

 private:
  struct Pending {
    std::shared_future<void> done;
    std::shared_ptr<int> rc;
    const char* call = "";
  };

  // Queues `collective` (returning MPI's code) on the communication thread, timed, to
  // be waited for by the wait_tensor reading `result`.
  void start(const Tensor& result, const char* call, std::function<int()> collective) {
    auto rc = std::make_shared<int>(MPI_SUCCESS);
    auto done = comm_.run([this, rc, collective = std::move(collective)] {
      const auto t0 = std::chrono::steady_clock::now();
      *rc = collective();
      collective_us_ +=
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
      ++collectives_;
    });
    std::lock_guard<std::mutex> lock(pending_mutex_);
    pending_[result.raw_data()] = {done, rc, call};
  }

  // Checked on the calling thread, where an error reaches the step: scale cannot fail.
  static void check_mean(const Tensor& t, ops::ReduceOp op) {
    AG_CHECK(op != ops::ReduceOp::Avg || is_floating(t.dtype()),
             "dist: reduce_op 'avg' needs a floating-point tensor, got {}", t.describe());
  }

  // Multiplies a float buffer by `factor` (1 / world size for 'avg'). The count is read
  // once: Tensor::numel walks the size list, and a loop that asked for it at every
  // element took 7 ms per step on mlp_large's 7.4 MB bucket (more than the reduction
  // itself) and did not vectorise.
  static void scale(const Tensor& b, double factor) {
    const int64_t n = b.numel();
    if (b.dtype() == DType::Float32) {
      auto* p = static_cast<float*>(b.raw_data());
      const auto f = static_cast<float>(factor);
      for (int64_t i = 0; i < n; ++i) p[i] *= f;
    } else {
      auto* p = static_cast<double*>(b.raw_data());
      for (int64_t i = 0; i < n; ++i) p[i] *= factor;
    }
  }

  void check(int rc, const char* call) const {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    AG_FAIL("dist: {} failed on rank {}: {}", call, rank_, std::string(text, static_cast<size_t>(len)));
  }

  int rank_ = 0, world_ = 1;
  std::atomic<int64_t> collective_us_{0}, blocked_us_{0}, collectives_{0};
  CommThread comm_;
  std::mutex pending_mutex_;
  std::map<void*, Pending> pending_;
};

class SingleProcess final : public Job {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  bool launched_by_mpirun() const override { return false; }
  void broadcast(const Tensor&, int) override {}
  void check_same(const std::string&, uint64_t) override {}
  void barrier() override {}
  CommStats comm_stats() const override { return {}; }
  void reset_comm_stats() override {}
  Tensor all_gather(const Tensor& shard) override { return contiguous(shard); }
};
}  // namespace

namespace {
MpiJob* g_mpi_job = nullptr;
}  // namespace

void abort_job(int exit_code) {
  if (g_mpi_job == nullptr) return;
  std::fprintf(stderr, "aotgrad: rank %d failed: ending the job\n", g_mpi_job->rank());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, exit_code);  // from this thread too: the job is ending
}

Job& Job::join() {
  static Job* job = []() -> Job* {
    if (std::getenv("OMPI_COMM_WORLD_SIZE") == nullptr) return new SingleProcess();
    comm_on_idle_time();  // a wrong value is an error here, before the thread starts
    auto mpi = std::make_shared<MpiJob>();
    ops::set_collective_backend(mpi);
    g_mpi_job = mpi.get();
    return mpi.get();  // the backend slot owns it for the process
  }();
  return *job;
}

uint64_t fingerprint(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace aotgrad::dist
