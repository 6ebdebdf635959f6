// Higher-order ops (SPEC.md §10): nested compile regions and flex attention.
//
// Both run eagerly like ordinary code. Under a trace (make_fx, the joint export)
// each call becomes one higher-order node whose subgraphs are traced from the
// user's C++ functions; the annotations in force reach the get_attr nodes, the
// higher-order nodes and the nodes inside the subgraphs.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "aotgrad/nn.h"
#include "aotgrad/tensor.h"

namespace aotgrad {

/// A region traced once per trace into a subgraph (repeated_subgraph0) and called
/// through invoke_subgraph; its backward is a separately traced joint subgraph
/// (primals…, tangents…) -> gradients, called by a second invoke_subgraph node.
/// (torch.compiler.nested_compile_region.)
class NestedCompileRegion {
 public:
  using Fn = std::function<TensorList(const TensorList& inputs)>;
  /// A function region. It may read only its inputs (and real constant tensors).
  NestedCompileRegion(std::string name, Fn fn);
  /// A module region: the module's forward, called with tensors. Its parameters
  /// and buffers become leading inputs of the subgraph, so two instances of one
  /// module class share one subgraph.
  NestedCompileRegion(std::string name, nn::Module& module);

  TensorList operator()(const TensorList& inputs) const;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  Fn fn_;
  nn::Module* module_ = nullptr;
};

// ---- flex attention ----

/// score_mod(score, b, h, q_idx, kv_idx): the new score of one query/key pair. It is
/// called on tensors that broadcast (score [rows, cols], q_idx [rows, 1], kv_idx
/// [1, cols], b and h 0-d; indices int32), so write it with elementwise ops.
using ScoreMod = std::function<Tensor(const Tensor& score, const Tensor& b, const Tensor& h, const Tensor& q_idx,
                                      const Tensor& kv_idx)>;
/// mask_mod(b, h, q_idx, kv_idx): a bool tensor, true where the query may attend the key.
using MaskMod = std::function<Tensor(const Tensor& b, const Tensor& h, const Tensor& q_idx, const Tensor& kv_idx)>;

/// Which key blocks each query block attends to: partial blocks (mask_mod is
/// evaluated on them) and full blocks (nothing masked); blocks in neither table are
/// skipped. Tables are int32 with leading dims [B, H] (1 broadcasts).
struct BlockMask {
  int64_t q_len = 0, kv_len = 0, q_block = 128, kv_block = 128;
  Tensor kv_num_blocks, kv_indices, full_kv_num_blocks, full_kv_indices;  // per query block
  Tensor q_num_blocks, q_indices, full_q_num_blocks, full_q_indices;      // per key block (transposed)
  MaskMod mask_mod;
  /// The fraction of (query block, key block) pairs that are skipped.
  double sparsity() const;
};

/// Evaluates mask_mod on every (b, h, q, kv) and sorts the blocks. B or H of 1 means
/// the mask does not depend on it (it broadcasts).
BlockMask create_block_mask(const MaskMod& mask_mod, int64_t B, int64_t H, int64_t q_len, int64_t kv_len,
                            int64_t block_size = 128);

/// softmax(mask(score_mod(q kᵀ * scale))) v over [B, H, S, D] tensors, skipping the
/// blocks the mask leaves out. score_mod may be empty (the identity); scale defaults
/// to 1/sqrt(D). Differentiable in q, k and v.
Tensor flex_attention(const Tensor& q, const Tensor& k, const Tensor& v, const ScoreMod& score_mod,
                      const BlockMask& block_mask, std::optional<double> scale = std::nullopt);

/// The same attention written out with dense ops (q kᵀ, score_mod and mask_mod on
/// the whole grid, masked_fill, softmax, · v): what flex_attention must equal.
Tensor explicit_masked_attention(const Tensor& q, const Tensor& k, const Tensor& v, const ScoreMod& score_mod,
                                 const MaskMod& mask_mod, std::optional<double> scale = std::nullopt);

}  // namespace aotgrad
