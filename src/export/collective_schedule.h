// Where a parallel pass's collectives go in a graph (internal to the export layer):
// each collective is a group of nodes that start it (up to the all_reduce /
// all_gather / reduce_scatter) and nodes from its wait_tensor on. The data-parallel
// and fully-sharded passes mark their groups with annotations and place them with
// these two policies.
#pragma once

#include <vector>

#include "aotgrad/graph.h"

namespace aotgrad::exporting::detail {

/// A parallel pass's annotation on `n`: the string under `phase_key` ("issue",
/// "gather_wait", ...), with the integer under `index_key` (the bucket, the
/// parameter) in `index`; null when `n` carries neither.
const std::string* collective_phase(const graph::Node& n, const char* index_key, const char* phase_key, int64_t& index);

/// Whether `n` calls a view op (its value aliases its first input's).
bool is_view_node(const graph::Node& n);

struct CollectiveGroup {
  std::vector<graph::Node*> issue, wait;
};

/// `order` holds every node of the graph except the groups'. Inserts each group's
/// issue nodes right after the last node they read (so the collective starts as soon
/// as its input is made) and its wait nodes right before the first node that reads
/// them (so it is waited for as late as possible).
void place_issue_after_inputs_and_wait_before_readers(std::vector<graph::Node*>& order,
                                                      const std::vector<CollectiveGroup>& groups);

/// The same, but each wait comes no later than the next group's issue: one
/// collective in flight while the next one's input is computed (FSDP's gradient
/// reduce-scatters, whose inputs stay alive until they are waited for).
void place_issue_after_inputs_and_wait_before_next_issue(std::vector<graph::Node*>& order,
                                                         const std::vector<CollectiveGroup>& groups);

/// Inserts each group's wait nodes right before their first reader, then, in the
/// order those waits come, each group's issue nodes right before the previous group's
/// wait: one collective in flight ahead of the one in use (FSDP's prefetch). The
/// first group's issue goes right before `first_issue_before`, or after the
/// placeholders when it is null. Issue nodes may read only placeholders and each other.
void place_prefetched(std::vector<graph::Node*>& order, const std::vector<CollectiveGroup>& groups,
                      const graph::Node* first_issue_before);

}  // namespace aotgrad::exporting::detail
