// The processes of an `mpirun` job, for data-parallel training (docs/DISTRIBUTED.md).
//
//   dist::Job& job = dist::Job::join();   // under mpirun: Open MPI's world; else one process
//   if (job.rank() == 0) print(...);
//
// Joining installs the job as the collective backend (the _c10d_functional ops run
// on it). All of MPI runs on one communication thread, so collectives started by a
// step proceed while the step computes, and a wait_tensor blocks only for its own.
#pragma once

#include <cstdint>
#include <string>

#include "aotgrad/tensor.h"

namespace aotgrad::dist {

class Job {
 public:
  /// The job of this process, joined on the first call: Open MPI's world when the
  /// process was started by mpirun (OMPI_COMM_WORLD_SIZE is set), else one process.
  static Job& join();
  virtual ~Job() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  /// Whether the process runs under mpirun (even with one rank).
  virtual bool launched_by_mpirun() const = 0;
  /// Overwrites t on every rank with rank `root`'s values (blocks).
  virtual void broadcast(const Tensor& t, int root) = 0;
  /// Every rank's `shard` stacked along dim 0 in rank order (blocks).
  virtual Tensor all_gather(const Tensor& shard) = 0;
  /// Fails on every rank, naming the ranks that differ, unless every rank passes the
  /// same `fingerprint` of `what` (a graph, a data set).
  virtual void check_same(const std::string& what, uint64_t fingerprint) = 0;
  /// Returns once every rank has called it.
  virtual void barrier() = 0;

  /// Time spent in collectives since the last reset: running them (on the
  /// communication thread) and blocked waiting for them (in wait_tensor). What ran
  /// but did not block was hidden behind computation.
  struct CommStats {
    double collective_ms = 0, blocked_ms = 0;
    int64_t collectives = 0;
  };
  virtual CommStats comm_stats() const = 0;
  virtual void reset_comm_stats() = 0;
};

/// After an error on this rank: if it joined an mpirun job, ends the whole job now
/// (MPI_Abort, so no other rank waits for it in a collective); otherwise returns.
void abort_job(int exit_code);

/// A 64-bit FNV-1a hash of text (a graph's JSON): what check_same compares.
uint64_t fingerprint(const std::string& text);

}  // namespace aotgrad::dist
