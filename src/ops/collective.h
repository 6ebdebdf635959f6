// Where the collective ops' kernels send their work (op_table.def, "collectives").
//
// The ops layer knows no transport: a process runs collectives as the identity
// (a world of one) until a backend is installed, as the dist layer installs its
// Open MPI one. A kernel starts a collective on its output buffer and returns; the
// wait_tensor kernel reading that buffer blocks until it is done.
#pragma once

#include <memory>
#include <string>

#include "aotgrad/tensor.h"

namespace aotgrad::ops {

enum class ReduceOp { Sum, Avg };
/// "sum" or "avg", as PyTorch's functional collectives spell them.
ReduceOp parse_reduce_op(const std::string& name);

class CollectiveBackend {
 public:
  virtual ~CollectiveBackend() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  /// Starts reducing `buffer` in place across the ranks; returns at once.
  virtual void start_all_reduce(const Tensor& buffer, ReduceOp op) = 0;
  /// Starts gathering every rank's rows of `buffer` (dim 0 in world_size() equal
  /// parts, this rank's part already in place) into all of it; returns at once.
  virtual void start_all_gather(const Tensor& buffer) = 0;
  /// Starts reducing `input` across the ranks into `output`, this rank's part of
  /// dim 0; returns at once. `input` is read until the wait for `output`
  /// (reads_input_until_waited).
  virtual void start_reduce_scatter(const Tensor& input, const Tensor& output, ReduceOp op) = 0;
  /// Blocks until the collective writing `buffer`'s data, if any, has finished.
  virtual void wait(const Tensor& buffer) = 0;
};

struct OpInfo;
/// Whether `op` goes on reading its input after its kernel returned, until the
/// wait_tensor of its result: reduce_scatter_tensor does (its result is smaller than
/// its input, so it cannot be copied there first); all_reduce and all_gather copy the
/// input into their result before starting. Whoever reuses memory must keep such an
/// input alive until that wait (the compiled executor's memory plan does).
bool reads_input_until_waited(const OpInfo& op);

/// The installed backend, or null (one process). Per process.
CollectiveBackend* collective_backend();
void set_collective_backend(std::shared_ptr<CollectiveBackend> backend);

}  // namespace aotgrad::ops
