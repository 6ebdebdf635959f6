// Data-parallel training on a joint graph or a training step (docs/DISTRIBUTED.md):
// each parameter's gradient averaged across the ranks with PyTorch's functional
// collectives, which run on the installed collective backend (Open MPI under
// `mpirun`; the identity in one process).
#pragma once

#include <cstdint>

#include "aotgrad/graph.h"
#include "aotgrad/tensor.h"

namespace aotgrad::exporting {

struct DataParallelOptions {
  /// Gradients are averaged in buckets of about this many bytes (PyTorch DDP's 25 MiB).
  int64_t bucket_bytes = int64_t{25} << 20;
};

/// Each gradient averaged across the ranks, as DDP does: the gradients, last
/// parameter first (the order the backward produces them), are packed into buckets
/// of about `options.bucket_bytes`; each bucket is one all_reduce('avg') of the
/// concatenated gradients, all started before the first is waited for; the results
/// are split back into the gradients' shapes. Recorded as ops when traced.
TensorList all_reduce_gradients(const TensorList& grads, const DataParallelOptions& options);

/// Moves each bucket of all_reduce_gradients (its nodes carry {"ddp_bucket": b})
/// to where the graph lets it overlap the most: its all_reduce right after the last
/// gradient it packs, so it runs while the backward goes on; its wait_tensor right
/// before the first node that reads the averaged gradients.
void schedule_gradient_buckets(graph::Graph& g);

}  // namespace aotgrad::exporting
