// Replaying a captured graph's higher-order nodes: the hop layer's interface to the
// export, which re-traces a captured forward graph (Note [One engine, two dispatchers]).
#pragma once

#include <vector>

#include "aotgrad/graph.h"

namespace aotgrad::hop_detail {

/// Runs higher-order node `n` of a captured graph through the hop layer's entry
/// points, so that under a trace it is recorded again as a higher-order op (with new
/// subgraphs traced from the captured ones). `around` wraps each node evaluated inside
/// a subgraph.
std::vector<Tensor> replay_higher_order(const graph::GraphModule& owner, const graph::Node& n,
                                        const std::vector<Tensor>& operands, const graph::NodeWrapper& around);

}  // namespace aotgrad::hop_detail
