// Higher-order op nodes (SPEC.md §10): calls whose arguments include subgraphs.
//
// Three are known, each a call_function node with Target::Kind::HigherOrder:
//
//   invoke_subgraph(subgraph, identifier, operands…) -> tuple
//       runs the subgraph on the operands (a nested compile region, or its joint
//       backward, which takes (primals…, tangents…) and returns one gradient per
//       primal);
//   flex_attention(q, k, v, score_graph, block_mask, scale, (), ()) -> (out, lse)
//   flex_attention_backward(q, k, v, out, lse, grad_out, grad_lse, fw_graph,
//       joint_graph, block_mask, scale, (), ()) -> (dq, dk, dv)
//       where block_mask is the list (kv_len, q_len, kv_num_blocks, kv_indices,
//       full_kv_num_blocks, full_kv_indices, q_num_blocks, q_indices,
//       full_q_num_blocks, full_q_indices, q_block, kv_block, mask_graph).
//
// Subgraph arguments are get_attr nodes naming a module in GraphModule::subgraphs.
// HigherOrderCall resolves a node once; the interpreter and the compiled executor
// both run it through run(), so they compute exactly the same thing.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "aotgrad/graph.h"
#include "ops/cpu/flex_attention.h"

namespace aotgrad::graph {

inline constexpr const char* kInvokeSubgraph = "invoke_subgraph";
inline constexpr const char* kFlexAttention = "flex_attention";
inline constexpr const char* kFlexAttentionBackward = "flex_attention_backward";

/// The position of each block-mask entry in the flex_attention argument list.
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
ops::flex::Mods flex_mods(std::shared_ptr<const GraphModule> score_graph,
                          std::shared_ptr<const GraphModule> score_grad_graph,
                          std::shared_ptr<const GraphModule> mask_graph);

/// Whether a score_mod graph returns its score input unchanged.
bool is_identity_score_graph(const GraphModule& g);

class HigherOrderCall {
 public:
  /// Resolves `n` (a higher-order node of `owner`); a user error if its arguments do
  /// not have the op's form or name subgraphs `owner` does not hold.
  HigherOrderCall(const GraphModule& owner, const Node& n);

  const std::string& op() const { return op_; }
  /// The tensor-valued argument nodes, in order; run() takes their values in this order.
  const std::vector<const Node*>& operands() const { return operands_; }
  /// The module an invoke_subgraph node calls (null for the others).
  const std::shared_ptr<GraphModule>& invoked() const { return invoked_; }
  /// Runs the op on real tensors: one tensor per result, undefined where it returns None.
  std::vector<Tensor> run(const std::vector<Tensor>& operands) const;

 private:
  int operand(const Arg& a, const char* what);
  std::shared_ptr<GraphModule> subgraph_arg(const GraphModule& owner, const Arg& a, const char* what) const;
  void resolve_block_mask(const GraphModule& owner, const Arg& a);
  ops::flex::BlockMaskTables tables(const std::vector<Tensor>& values) const;

  std::string op_, node_;
  std::vector<const Node*> operands_;
  std::shared_ptr<GraphModule> invoked_;
  // flex_attention(_backward): operand positions (-1: None) and resolved subgraphs.
  int q_ = -1, k_ = -1, v_ = -1, out_ = -1, lse_ = -1, grad_out_ = -1;
  int mask_tables_[4] = {-1, -1, -1, -1};  // kv_num_blocks, kv_indices, full_kv_num_blocks, full_kv_indices
  int64_t q_len_ = 0, kv_len_ = 0, q_block_ = 0, kv_block_ = 0;
  double scale_ = 1.0;
  ops::flex::Mods mods_;
};

}  // namespace aotgrad::graph
