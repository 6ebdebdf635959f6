// --parallel and --bucket-mib: data-parallel training across the processes of an
// `mpirun` job (docs/DISTRIBUTED.md).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "aotgrad/parallel.h"

namespace aotgrad::cli {

struct ParallelFlags {
  std::string parallel = "none";
  double bucket_mib = 25;
  std::optional<exporting::DataParallelOptions> data_parallel() const {
    if (parallel == "none") return std::nullopt;
    exporting::DataParallelOptions o;
    o.bucket_bytes = static_cast<int64_t>(bucket_mib * 1024 * 1024);
    return o;
  }
};

inline std::shared_ptr<ParallelFlags> add_parallel_flags(CLI::App* cmd) {
  auto flags = std::make_shared<ParallelFlags>();
  cmd->add_option("--parallel", flags->parallel,
                  "none, or ddp: average the parameters' gradients across the ranks of an mpirun job")
      ->check(CLI::IsMember({"none", "ddp"}))
      ->capture_default_str();
  cmd->add_option("--bucket-mib", flags->bucket_mib, "ddp: gradients are averaged in buckets of this many MiB")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  return flags;
}

}  // namespace aotgrad::cli
