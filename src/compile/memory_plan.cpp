#include "compile/memory_plan.h"

#include <algorithm>

namespace aotgrad::compile {

namespace {
constexpr int64_t kAlignment = 64;
int64_t aligned(int64_t n) {
  return (n + kAlignment - 1) / kAlignment * kAlignment;
}

struct Group {
  int64_t bytes = 0;
  size_t first = 0, last = 0;
  int64_t offset = -1;
};
}  // namespace

MemoryPlan plan_arena(const std::vector<PlannedBuffer>& buffers) {
  // A chain of in-place reuses is one group living from its head's first write to
  // its tail's last read.
  std::vector<size_t> group_of(buffers.size());
  std::vector<Group> groups;
  for (size_t b = 0; b < buffers.size(); ++b) {
    if (buffers[b].reuse_of >= 0) continue;
    Group g{aligned(buffers[b].bytes), buffers[b].first, buffers[b].last};
    for (int64_t c = static_cast<int64_t>(b); c >= 0; c = buffers[static_cast<size_t>(c)].reused_by) {
      const PlannedBuffer& m = buffers[static_cast<size_t>(c)];
      g.bytes = std::max(g.bytes, aligned(m.bytes));
      g.last = std::max(g.last, m.last);
      group_of[static_cast<size_t>(c)] = groups.size();
    }
    groups.push_back(g);
  }
  std::vector<size_t> order(groups.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return groups[a].bytes > groups[b].bytes; });
  std::vector<size_t> placed;
  MemoryPlan plan;
  for (size_t gi : order) {
    Group& g = groups[gi];
    std::vector<std::pair<int64_t, int64_t>> taken;  // [offset, end) of live neighbours
    for (size_t pi : placed) {
      const Group& o = groups[pi];
      if (o.first <= g.last && g.first <= o.last) taken.emplace_back(o.offset, o.offset + o.bytes);
    }
    std::sort(taken.begin(), taken.end());
    int64_t offset = 0;
    for (const auto& [start, end] : taken) {
      if (offset + g.bytes <= start) break;
      offset = std::max(offset, end);
    }
    g.offset = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, offset + g.bytes);
    placed.push_back(gi);
  }
  plan.offsets.resize(buffers.size());
  for (size_t b = 0; b < buffers.size(); ++b) plan.offsets[b] = groups[group_of[b]].offset;
  return plan;
}

}  // namespace aotgrad::compile
