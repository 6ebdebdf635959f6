// --parallel, --bucket-mib, --world-size, --keep-gathered, --shard-groups, --shard-group-kib: data-parallel or
// fully-sharded training across the processes of an `mpirun` job
// (docs/DISTRIBUTED.md).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "aotgrad/export.h"
#include "aotgrad/parallel.h"

namespace aotgrad::cli {

struct ParallelFlags {
  std::string parallel = "none";
  double bucket_mib = 25;
  int64_t world_size = 0;  // 0: the job's size
  bool keep_gathered = false;
  std::string shard_groups = "module";
  double shard_group_kib = 256;

  bool any() const { return parallel != "none"; }
  std::optional<exporting::DataParallelOptions> data_parallel() const {
    if (parallel != "ddp") return std::nullopt;
    exporting::DataParallelOptions o;
    o.bucket_bytes = static_cast<int64_t>(bucket_mib * 1024 * 1024);
    return o;
  }
  /// For `job_size` ranks, unless --world-size says otherwise.
  std::optional<exporting::FullyShardedOptions> fully_sharded(int64_t job_size) const {
    if (parallel != "fsdp") return std::nullopt;
    exporting::FullyShardedOptions o;
    o.world_size = world_size > 0 ? world_size : job_size;
    o.reshard_after_forward = !keep_gathered;
    o.groups = shard_groups == "parameter" ? exporting::ShardGroups::Parameter : exporting::ShardGroups::Module;
    o.min_group_bytes = static_cast<int64_t>(shard_group_kib * 1024);
    return o;
  }
  void apply(exporting::ExportOptions& options, int64_t job_size) const {
    options.data_parallel = data_parallel();
    options.fully_sharded = fully_sharded(job_size);
  }
};

/// `with_world_size`: the command exports without running (--world-size N chooses the
/// shards' count); the others take the job's size.
inline std::shared_ptr<ParallelFlags> add_parallel_flags(CLI::App* cmd, bool with_world_size = false) {
  auto flags = std::make_shared<ParallelFlags>();
  cmd->add_option("--parallel", flags->parallel,
                  "none; ddp: average the parameters' gradients across the ranks of an mpirun job; fsdp: shard the "
                  "parameters, their gradients and optimizer state across them")
      ->check(CLI::IsMember({"none", "ddp", "fsdp"}))
      ->capture_default_str();
  cmd->add_option("--bucket-mib", flags->bucket_mib, "ddp: gradients are averaged in buckets of this many MiB")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--keep-gathered", flags->keep_gathered,
                "fsdp: keep each gathered parameter from the forward for the backward instead of gathering it again");
  cmd->add_option("--shard-groups", flags->shard_groups,
                  "fsdp: gather parameters and reduce-scatter their gradients per module (one collective for a "
                  "module's own parameters) or per parameter")
      ->check(CLI::IsMember({"module", "parameter"}))
      ->capture_default_str();
  cmd->add_option("--shard-group-kib", flags->shard_group_kib,
                  "fsdp, --shard-groups module: a group smaller than this many KiB takes in the next module's "
                  "parameters too (0: one group per module)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  if (with_world_size)
    cmd->add_option("--world-size", flags->world_size, "fsdp: the number of ranks the graph shards across")
        ->check(CLI::PositiveNumber);
  return flags;
}

}  // namespace aotgrad::cli
