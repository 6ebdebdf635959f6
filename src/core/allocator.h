// Host memory for tensor storage: 64-byte aligned blocks, with a cache of freed
// large blocks.
//
// Why cache: a training step frees and re-allocates the same activation-sized
// blocks every step. Served by malloc, blocks that large come from fresh mmap()s
// whose pages the kernel must fault in and zero on first touch — a third of the
// convnet step went there. Reusing freed blocks of the same size removes that.
// Medium blocks (4 KiB up) are cached too: a small model's step frees and makes
// dozens of 16-64 KiB activations, and malloc spent a tenth of mlp_small's step
// splitting and coalescing them (perf: unlink_chunk, malloc_consolidate). Tiny
// blocks go straight to malloc, whose own free lists serve them well.
#pragma once

#include <cstddef>
#include <cstdint>

namespace aotgrad {

/// Aligned memory of at least `nbytes`; throws a user error when out of memory.
void* allocate_storage(size_t nbytes);
/// Returns a block from allocate_storage (of the same `nbytes`).
void free_storage(void* data, size_t nbytes);

struct AllocatorStats {
  size_t cached_bytes = 0;  // held in the cache, ready for reuse
  size_t hits = 0, misses = 0;
};
AllocatorStats allocator_stats();
/// Frees every cached block back to the system.
void empty_storage_cache();

}  // namespace aotgrad
