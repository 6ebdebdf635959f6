// The arena planner: live buffers never overlap; dead ones share; reuse chains share one place.
#include <gtest/gtest.h>

#include "compile/memory_plan.h"

using namespace aotgrad::compile;

namespace {
bool overlap(const PlannedBuffer& a, int64_t oa, const PlannedBuffer& b, int64_t ob) {
  const bool alive_together = a.first <= b.last && b.first <= a.last;
  const bool bytes_together = oa < ob + b.bytes && ob < oa + a.bytes;
  return alive_together && bytes_together;
}
}  // namespace

TEST(MemoryPlan, LiveBuffersNeverOverlapAndDeadOnesShare) {
  // A chain a -> b -> c -> d where each dies as the next is made, plus one long-lived e.
  std::vector<PlannedBuffer> bufs = {{1000, 0, 1}, {1000, 1, 2}, {1000, 2, 3}, {1000, 3, 4}, {4000, 0, 4}};
  MemoryPlan p = plan_arena(bufs);
  ASSERT_EQ(p.offsets.size(), bufs.size());
  for (size_t i = 0; i < bufs.size(); ++i) {
    EXPECT_EQ(p.offsets[i] % 64, 0);
    for (size_t j = i + 1; j < bufs.size(); ++j)
      EXPECT_FALSE(overlap(bufs[i], p.offsets[i], bufs[j], p.offsets[j])) << i << " and " << j;
  }
  // e (4000, rounded to 4032) plus two of the 1000-byte buffers (1024 each) at any time.
  EXPECT_EQ(p.arena_bytes, 4032 + 2 * 1024);
}

TEST(MemoryPlan, ReuseChainsShareOnePlace) {
  std::vector<PlannedBuffer> bufs = {{512, 0, 1}, {512, 1, 2}, {512, 2, 5}};
  bufs[1].reuse_of = 0;
  bufs[0].reused_by = 1;
  bufs[2].reuse_of = 1;
  bufs[1].reused_by = 2;
  MemoryPlan p = plan_arena(bufs);
  EXPECT_EQ(p.offsets[0], p.offsets[1]);
  EXPECT_EQ(p.offsets[1], p.offsets[2]);
  EXPECT_EQ(p.arena_bytes, 512);
}
