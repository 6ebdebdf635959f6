// dist::Job on Open MPI: every MPI call runs on one communication thread (Note [One
// MPI thread]).
#include <mpi.h>
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
#include "support/parallel.h"

namespace aotgrad::dist {

// Note [One MPI thread]
// MPI is initialised with MPI_THREAD_FUNNELED on a thread of its own, which then
// makes every MPI call: jobs are queued to it and run in order. A kernel that starts
// an all_reduce queues it and returns; the wait_tensor for that buffer waits on its
// future. So the collective runs beside the step's computation when a core is free
// for it, or while the computation waits (Note [When a collective starts]), without
// relying on MPI's progress inside non-blocking calls; and the order of collectives
// is the same on every rank because every rank runs the same graph.

// Note [When a collective starts]
// mpirun binds each rank to one core (--bind-to core for up to two ranks, a socket
// for more). A rank computing on every core it may use has no core for its
// communication thread: a collective started there shares the core with the
// computation, and while it waits for a peer inside MPI it polls, which the scheduler
// pays for with half the core. On 2 ranks x 1 thread (Zen 4) fsdp's weak scaling was
// 0.69-0.75 (mlp_large) and 0.72-0.88 (transformer_block) so. Such a rank therefore
// holds each collective back until the computation waits for it (or for a later
// one: the order of collectives is kept), when the core is the communication
// thread's alone: fsdp 0.84-0.92 and 0.76-0.86, ddp 0.90-0.91 and 0.88-0.96. A
// rank with a core to spare (more CPUs in its affinity mask than computing threads)
// starts each collective at once, and it runs beside the computation.
// AOTGRAD_COMM_START=now or =wait chooses one of the two for every collective
// (`now` hides network latency between machines at the price of the polling).
//
// Running the thread at idle priority (SCHED_IDLE) gave the same speed on an
// otherwise idle machine, but starved the collectives whenever anything else kept
// the CPUs busy: the MPI tests took 200 s instead of 11 beside a compiler.
namespace {
enum class CommStart { Auto, Now, Wait };

// AOTGRAD_COMM_START, read once, on the thread that joins the job.
CommStart comm_start_mode() {
  static const CommStart mode = [] {
    const char* wanted = std::getenv("AOTGRAD_COMM_START");
    const std::string s = wanted != nullptr ? wanted : "auto";
    AG_CHECK(s == "auto" || s == "now" || s == "wait", "dist: AOTGRAD_COMM_START is '{}'; expected auto, now or wait",
             s);
    return s == "now" ? CommStart::Now : s == "wait" ? CommStart::Wait : CommStart::Auto;
  }();
  return mode;
}

// The CPUs this process may run on (its affinity mask, as mpirun bound it).
int cpus_allowed() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return CPU_COUNT(&set);
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
  using Task = std::shared_ptr<std::packaged_task<void()>>;
  std::shared_future<void> run(std::function<void()> job) {
    auto task = std::make_shared<std::packaged_task<void()>>(std::move(job));
    std::shared_future<void> done = task->get_future().share();
    submit(task);
    return done;
  }
  void submit(const Task& task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back([task] { (*task)(); });
    }
    ready_.notify_one();
  }

 private:
  void loop() {
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
    submit_held(nullptr);
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
    submit_held(nullptr);
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
    // Timed from before the submission: a collective held until now can take the core
    // from this thread as soon as it is queued (a woken thread preempts), and that is
    // time the step is blocked too.
    const auto t0 = std::chrono::steady_clock::now();
    submit_held(p.task.get());
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
    submit_held(nullptr);
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
    CommThread::Task task;
    std::shared_future<void> done;
    std::shared_ptr<int> rc;
    const char* call = "";
  };

  // Prepares `collective` (returning MPI's code), timed, to be waited for by the
  // wait_tensor reading `result`, and queues it on the communication thread now or
  // holds it back until a wait needs it (Note [When a collective starts]).
  void start(const Tensor& result, const char* call, std::function<int()> collective) {
    auto rc = std::make_shared<int>(MPI_SUCCESS);
    auto task = std::make_shared<std::packaged_task<void()>>([this, rc, collective = std::move(collective)] {
      const auto t0 = std::chrono::steady_clock::now();
      *rc = collective();
      collective_us_ +=
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
      ++collectives_;
    });
    {
      std::lock_guard<std::mutex> lock(pending_mutex_);
      pending_[result.raw_data()] = {task, task->get_future().share(), rc, call};
    }
    if (start_at_once()) {
      submit_held(nullptr);  // what is held goes first: the order of collectives is every rank's
      comm_.submit(task);
    } else {
      std::lock_guard<std::mutex> lock(pending_mutex_);
      held_.push_back(task);
    }
  }

  bool start_at_once() const {
    const CommStart mode = comm_start_mode();
    return mode == CommStart::Now || (mode == CommStart::Auto && cpus_ > num_threads());
  }

  // Queues the held collectives in the order they started: up to and including
  // `until`, or all of them when it is null (before a call outside the steps).
  void submit_held(const std::packaged_task<void()>* until) {
    std::lock_guard<std::mutex> lock(pending_mutex_);
    while (!held_.empty()) {
      CommThread::Task next = held_.front();
      held_.pop_front();
      comm_.submit(next);
      if (next.get() == until) break;
    }
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
  int cpus_ = cpus_allowed();
  std::deque<CommThread::Task> held_;  // started, not yet queued (Note [When a collective starts])
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
    comm_start_mode();  // a wrong value is an error here, before the thread starts
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
