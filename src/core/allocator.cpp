#include "core/allocator.h"

#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "support/error.h"

namespace aotgrad {

namespace {
constexpr size_t kAlignment = 64;
// Blocks below this size are malloc's business (see the header).
constexpr size_t kCacheMinBytes = size_t{1} << 12;
// Blocks from this size up are rounded to whole pages, so near sizes share a bin.
constexpr size_t kPageRoundBytes = size_t{1} << 16;
// The cache never holds more than this; beyond it, freed blocks go back to the system.
constexpr size_t kCacheMaxBytes = size_t{1} << 30;

size_t rounded(size_t nbytes) {
  size_t n = nbytes == 0 ? 1 : nbytes;
  if (n >= kPageRoundBytes) return (n + 4095) / 4096 * 4096;  // page granularity for reuse
  return (n + kAlignment - 1) / kAlignment * kAlignment;
}

struct Cache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // by rounded size
  AllocatorStats stats;
};

Cache& cache() {
  // Leaked on purpose: tensors in static objects may be freed after main returns.
  static Cache* c = new Cache();
  return *c;
}
}  // namespace

void* allocate_storage(size_t nbytes) {
  const size_t size = rounded(nbytes);
  if (size >= kCacheMinBytes) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.free_blocks.find(size);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.stats.cached_bytes -= size;
      ++c.stats.hits;
      return p;
    }
    ++c.stats.misses;
  }
  void* p = std::aligned_alloc(kAlignment, size);
  AG_CHECK(p != nullptr, "out of memory: could not allocate {} bytes", nbytes);
  return p;
}

void free_storage(void* data, size_t nbytes) {
  if (data == nullptr) return;
  const size_t size = rounded(nbytes);
  if (size >= kCacheMinBytes) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mu);
    if (c.stats.cached_bytes + size <= kCacheMaxBytes) {
      c.free_blocks[size].push_back(data);
      c.stats.cached_bytes += size;
      return;
    }
  }
  std::free(data);
}

AllocatorStats allocator_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.stats;
}

void empty_storage_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& [size, blocks] : c.free_blocks)
    for (void* p : blocks) std::free(p);
  c.free_blocks.clear();
  c.stats.cached_bytes = 0;
}

}  // namespace aotgrad
