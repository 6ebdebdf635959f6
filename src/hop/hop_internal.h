// What the higher-order ops share inside the hop layer (the export's replay of
// captured graphs uses hop/replay.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "aotgrad/graph.h"
#include "aotgrad/hop.h"
#include "ops/cpu/flex_attention.h"

namespace aotgrad::hop_detail {

// The ops' names as graph nodes carry them (torch.ops.higher_order.NAME).
inline constexpr const char* kInvokeSubgraph = "invoke_subgraph";
inline constexpr const char* kFlexAttention = "flex_attention";
inline constexpr const char* kFlexAttentionBackward = "flex_attention_backward";

// The graph forms (SPEC.md §10):
//   invoke_subgraph(subgraph, identifier, operands…) -> tuple
//       runs the subgraph on the operands (a nested compile region, or its joint
//       backward, which takes (primals…, tangents…) and returns one gradient per primal);
//   flex_attention(q, k, v, score_graph, block_mask, scale, (), ()) -> (out, lse)
//   flex_attention_backward(q, k, v, out, lse, grad_out, grad_lse, fw_graph,
//       joint_graph, block_mask, scale, (), ()) -> (dq, dk, dv)
//       where block_mask is the list below, ending with the mask_mod graph.
enum BlockMaskArg : int {
  kKvLen,
  kQLen,
  kKvNumBlocks,
  kKvIndices,
  kFullKvNumBlocks,
  kFullKvIndices,
  kQNumBlocks,
  kQIndices,
  kFullQNumBlocks,
  kFullQIndices,
  kQBlock,
  kKvBlock,
  kMaskGraph,
  kBlockMaskArgs
};

/// Tile callbacks that run score_mod / its derivative / mask_mod subgraphs on real
/// tensors. A score graph that returns its first input unchanged is the identity and
/// gives no callback.
ops::flex::Mods flex_mods(std::shared_ptr<const graph::GraphModule> score_graph,
                          std::shared_ptr<const graph::GraphModule> score_grad_graph,
                          std::shared_ptr<const graph::GraphModule> mask_graph);
/// Whether a score_mod graph returns its score input unchanged.
bool is_identity_score_graph(const graph::GraphModule& g);

/// Register the node forms with the graph layer (hop/register.cpp calls them).
void register_invoke_subgraph_node();
void register_flex_attention_nodes();

/// Calls `body` on `operands` as a nested compile region: directly outside a trace,
/// through invoke_subgraph inside one, its subgraphs reused for every call with the
/// same `cache_key` and operand layouts.
TensorList invoke_region(const std::string& name, const std::string& cache_key, const NestedCompileRegion::Fn& body,
                         const TensorList& operands);

/// flex_attention's results: the output and the logsumexp of each query row.
TensorList flex_attention_outputs(const Tensor& q, const Tensor& k, const Tensor& v, const ScoreMod& score_mod,
                                  const BlockMask& block_mask, std::optional<double> scale);

}  // namespace aotgrad::hop_detail
