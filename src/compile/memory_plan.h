// The arena layout: every planned buffer gets an offset such that buffers alive at
// the same time never overlap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace aotgrad::compile {

struct PlannedBuffer {
  int64_t bytes = 0;
  size_t first = 0, last = 0;  // instructions that write it first and read it last
  /// In-place reuse: this buffer takes over buffer `reuse_of`, which dies at `first`.
  int64_t reuse_of = -1;
  int64_t reused_by = -1;
};

struct MemoryPlan {
  std::vector<int64_t> offsets;  // per buffer, in bytes, 64-byte aligned
  int64_t arena_bytes = 0;
};

/// Greedy by size: the largest buffers are placed first, each at the lowest offset
/// that no buffer with an overlapping lifetime occupies. Chains of in-place reuse
/// share one place.
MemoryPlan plan_arena(const std::vector<PlannedBuffer>& buffers);

}  // namespace aotgrad::compile
