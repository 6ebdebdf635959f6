// Splitting a joint graph into a forward graph and a backward graph (SPEC.md §9).
//
// The forward graph takes the primals and returns the forward outputs (mutated
// inputs' new values, user outputs) followed by the values the backward reads (the
// saved values). The backward graph takes the saved values and the tangents and
// returns one gradient per primal (None where the joint has none). Running the two in
// turn computes exactly what the joint graph computes.
//
// This is the default policy: save whatever the backward reads from the forward.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "aotgrad/graph.h"

namespace aotgrad::partition {

struct SavedValue {
  std::string name;  // the joint graph's node (or placeholder) name
  std::string val;   // "f32[4, 3]"
  int64_t bytes = 0;
};

struct Partition {
  std::shared_ptr<graph::GraphModule> forward, backward;
  int64_t num_forward_outputs = 0;  // before the saved values
  std::vector<SavedValue> saved;
  int64_t saved_bytes() const;
};

/// Splits a joint graph made by aot_export_joint_with_descriptors; a user error if it
/// lacks descriptors.
Partition partition_joint(const graph::GraphModule& joint);

}  // namespace aotgrad::partition
