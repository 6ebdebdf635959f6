// Splitting a joint graph into a forward graph and a backward graph (SPEC.md §9).
//
// The forward graph takes the primals and returns the forward outputs (mutated
// inputs' new values, user outputs) followed by the values the backward reads (the
// saved values). The backward graph takes the saved values and the tangents and
// returns one gradient per primal (None where the joint has none). Running the two in
// turn computes exactly what the joint graph computes.
//
// Two policies choose what crosses from forward to backward:
//  - SaveAll: save whatever the backward reads from the forward;
//  - MinCut: save the cheapest set of values from which the backward can recompute
//    what it reads, recomputing only cheap ops (pointwise ops, views, normalisations,
//    reductions that do not shrink their input much) — a minimum cut of the
//    forward's data-flow graph weighted by tensor size. A memory budget below 1
//    lets it recompute costlier ops until the saved activations fit.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "aotgrad/graph.h"

namespace aotgrad::partition {

enum class Policy { SaveAll, MinCut };

struct PartitionOptions {
  Policy policy = Policy::SaveAll;
  /// MinCut only: the activation memory to aim for, as a fraction of what SaveAll
  /// saves. At 1 only cheap ops are recomputed; below 1 reductions and pools, then
  /// every deterministic op, may be recomputed until the saved activations fit.
  double memory_budget = 1.0;
};

struct SavedValue {
  std::string name;  // the joint graph's node (or placeholder) name
  std::string val;   // "f32[4, 3]"
  int64_t bytes = 0;
  bool is_primal = false;  // a graph input (held by the caller anyway)
  std::string source;      // "model.py:12 in forward" — the user line that made it, if known
  /// In a graph with symbolic shapes: `bytes` as an expression ("512*s0"); `bytes`
  /// is its value at the example. A constant otherwise.
  SymExpr sym_bytes;
};

struct RecomputedValue {
  std::string name;    // the joint graph's node
  std::string op;      // "aten.relu.default"
  std::string reason;  // why recomputing it is allowed
};

struct Partition {
  std::shared_ptr<graph::GraphModule> forward, backward;
  int64_t num_forward_outputs = 0;  // before the saved values
  std::vector<SavedValue> saved;
  std::vector<RecomputedValue> recomputed;
  Policy policy = Policy::SaveAll;
  /// MinCut: which op classes the cut was allowed to recompute ("cheap ops", ...).
  std::string recompute_level;
  /// Bytes of every saved value.
  int64_t saved_bytes() const;
  /// Bytes of the saved values that are not graph inputs: the activation memory
  /// held between forward and backward.
  int64_t saved_activation_bytes() const;
  /// The same as expressions of the graph's symbols (constants for fixed shapes).
  SymExpr saved_activation_sym_bytes() const;
};

/// Splits a joint graph made by aot_export_joint_with_descriptors; a user error if it
/// lacks descriptors.
Partition partition_joint(const graph::GraphModule& joint, const PartitionOptions& options = {});

/// The most bytes of intermediate tensors alive at once when the forward graph and
/// then the backward graph run, each value freed after its last use (views count
/// nothing; graph inputs are not counted).
int64_t peak_activation_bytes(const Partition& p);

}  // namespace aotgrad::partition
