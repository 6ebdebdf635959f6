// What the partition files share: the forward/backward classification of a joint
// graph and the min-cut choice of saved values.
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "aotgrad/graph.h"
#include "aotgrad/partition.h"

namespace aotgrad::partition::detail {

/// The joint graph seen as forward and backward halves.
struct JointView {
  const graph::Graph* graph = nullptr;
  /// Nodes that depend on a tangent (and the tangent placeholders).
  std::unordered_set<const graph::Node*> backward;
  /// Forward values the backward half needs: read by a backward node, or returned
  /// as a gradient without needing a tangent. In graph order.
  std::vector<const graph::Node*> required;
};

JointView view_joint(const graph::GraphModule& joint);

/// Bytes of a node's tensor value (0 for tuples and non-tensors).
int64_t tensor_bytes(const graph::Node* n);
/// Its bytes as an expression of the graph's symbols (a constant for a fixed shape).
SymExpr tensor_sym_bytes(const graph::Node* n);

/// Ops the min cut may recompute in the backward, by how far the budget pushes it.
enum class RecomputeLevel {
  Cheap = 1,   // pointwise ops, views, normalisations, reductions that keep most of their input
  Reductions,  // + every reduction and pooling op
  Everything,  // + matrix multiplies and convolutions (random ops never)
};
const char* level_name(RecomputeLevel level);

/// Why `n` may be recomputed at `level`, or "" if it may not.
std::string recompute_reason(const graph::Node* n, RecomputeLevel level);

/// The forward values to save so that everything in view.required can be computed
/// from them by recomputing only ops recompute_reason allows: a minimum cut of the
/// forward graph, each value weighted by its size (parameters and buffers free).
std::vector<const graph::Node*> min_cut_saved(const JointView& view, RecomputeLevel level);

}  // namespace aotgrad::partition::detail
