// Data-parallel and fully-sharded training on a joint graph or a training step
// (docs/DISTRIBUTED.md), with PyTorch's functional collectives, which run on the
// installed collective backend (Open MPI under `mpirun`; the identity in one
// process). Data-parallel (DDP): each parameter's gradient averaged across the ranks.
// Fully-sharded (FSDP): each parameter stored as one shard per rank, gathered where
// it is read, its gradient reduce-scattered to the shards.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

/// Which parameters share one gather and one reduce-scatter (Note [FSDP groups]).
enum class ShardGroups {
  Module,     // the parameters modules hold directly (FSDP2's unit: a Linear's weight and bias), small modules together
  Parameter,  // each parameter alone (SimpleFSDP's graph before bucketing)
};

struct FullyShardedOptions {
  /// The ranks the parameters are sharded across (the job's size when training).
  int64_t world_size = 1;
  /// Free each gathered parameter after the forward and gather it again for the
  /// backward (FSDP's reshard_after_forward); false keeps the forward's copy.
  bool reshard_after_forward = true;
  ShardGroups groups = ShardGroups::Module;
  /// ShardGroups::Module: a group takes in the next module's parameters while it holds
  /// fewer bytes than this (below it a collective costs its latency, not its bytes).
  int64_t min_group_bytes = int64_t{256} << 10;
  /// ShardGroups::Module: a parameter of at least this many bytes is a group of its
  /// own, gathered straight into its whole tensor (in a shared group each parameter is
  /// copied out of the gathered rows) and reduce-scattered from its own gradient.
  int64_t own_group_bytes = int64_t{256} << 10;
};

/// One rank's shard of a tensor of `sizes`: dim 0 in world_size parts, rounded up
/// (the last shards padded with zeros); a 0-d tensor is sharded as [1].
Shape shard_sizes(const Shape& sizes, int64_t world_size);
/// Rank `rank`'s shard of `full`, zero padded (eager, or recorded when traced).
Tensor shard_of(const Tensor& full, int64_t rank, int64_t world_size);
/// The tensor of `sizes` from every rank's shard stacked in rank order (what
/// all_gather_into_tensor returns): the padding dropped.
Tensor unshard(const Tensor& gathered, const Shape& sizes);

/// A parameter as shard_groups sees it.
struct ShardedParam {
  std::string fqn;
  int64_t bytes = 0;
  DType dtype = DType::Float32;
};
/// The parameters' groups, as indices into `params`, in the order of their first
/// parameter. ShardGroups::Module: a parameter of options.own_group_bytes or more
/// alone; the others by module (their FQN up to the last '.'), of one dtype, a group
/// smaller than options.min_group_bytes taking in the next module's small ones too;
/// ShardGroups::Parameter: each alone.
std::vector<std::vector<size_t>> shard_groups(const std::vector<ShardedParam>& params,
                                              const FullyShardedOptions& options);

/// The parameters of one group, of `sizes`, from this rank's shards: one
/// all_gather_into_tensor of the shards laid end to end, its wait_tensor, then each
/// parameter's rows taken from every rank's part and the padding dropped. Recorded
/// without gradient history; each is returned as a leaf that requires grad as
/// `requires_grad` says (what the backward differentiates). The nodes are annotated
/// with `group` (Note [FSDP phases]) for schedule_fully_sharded.
TensorList gather_parameters(const TensorList& shards, const std::vector<Shape>& sizes,
                             const std::vector<bool>& requires_grad, int64_t group, const FullyShardedOptions& options);
/// This rank's shards of one group's gradients averaged across the ranks: each
/// padded, laid end to end rank part by rank part, one reduce_scatter_tensor('avg')
/// and its wait_tensor, split back into the shards.
TensorList reduce_scatter_gradients(const TensorList& grads, int64_t group, const FullyShardedOptions& options);

/// Places the pass's collectives: with reshard_after_forward, the backward's readers
/// of a gathered parameter get a gather of their own; each gather is started while
/// the parameter before it is in use (one ahead) and waited for right before its
/// first reader; each gradient's reduce_scatter starts as soon as the gradient is
/// made and is waited for right before its first reader (the optimizer's update).
void schedule_fully_sharded(graph::Graph& g, const FullyShardedOptions& options);

}  // namespace aotgrad::exporting
