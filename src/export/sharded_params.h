// The fully-sharded pass as the exporters trace it (internal to the export layer):
// every parameter gathered group by group before the forward, every gradient
// reduce-scattered group by group after the backward (Note [FSDP groups] in
// fully_sharded.cpp), so the joint graph and the training step group alike.
#pragma once

#include "aotgrad/parallel.h"
#include "export/forward_source.h"

namespace aotgrad::exporting::detail {

/// The whole parameters, in the order of `params`, from their shards.
TensorList gather_sharded(const TensorList& shards, const std::vector<ForwardSource::Named>& params,
                          const FullyShardedOptions& options);

/// This rank's shard of each defined gradient in `grads` (one per entry of `params`),
/// averaged across the ranks; undefined gradients stay undefined.
TensorList reduce_scatter_sharded(const TensorList& grads, const std::vector<ForwardSource::Named>& params,
                                  const FullyShardedOptions& options);

}  // namespace aotgrad::exporting::detail
