// Block-sparse attention kernels for flex_attention (SPEC.md §10), float and double.
//
// Attention is computed one block of query rows at a time against only the key
// blocks the block mask lists for it: partial blocks (some entries masked, so the
// mask is evaluated on the tile) and full blocks (nothing masked). Blocks the mask
// leaves out are never touched, which is where the speed over explicitly masked
// attention comes from. The user's score_mod and mask_mod reach the kernels as tile
// callbacks, so this layer knows nothing about how they are represented.
#pragma once

#include <functional>

#include "aotgrad/tensor.h"

namespace aotgrad::ops::flex {

/// The block-sparse structure create_block_mask builds. Tables are int32 with
/// leading dims [Bm, Hm] where Bm is 1 or the batch and Hm is 1 or the head count.
struct BlockMaskTables {
  int64_t q_len = 0, kv_len = 0, q_block = 128, kv_block = 128;
  Tensor kv_num_blocks, kv_indices;            // partial blocks per query block: [Bm,Hm,nq], [Bm,Hm,nq,nkv]
  Tensor full_kv_num_blocks, full_kv_indices;  // blocks with nothing masked (may be undefined)
};

/// Where a tile sits: batch, head, first query row, first key column, and its size.
struct Tile {
  int64_t b, h, q0, kv0, rows, cols;
};

/// Rewrites a [rows, cols] tile of scaled scores in place (score_mod). Null: identity.
using ScoreTileFn = std::function<void(const Tensor& scores, const Tile& tile)>;
/// Turns the gradient w.r.t. modified scores into the gradient w.r.t. the raw
/// scores, in place, given the raw scores. Null: identity.
using ScoreGradTileFn = std::function<void(const Tensor& raw_scores, const Tensor& grad, const Tile& tile)>;
/// Fills a [rows, cols] bool tile: true where a query may attend to a key.
using MaskTileFn = std::function<void(const Tensor& keep, const Tile& tile)>;

struct Mods {
  ScoreTileFn score;
  ScoreGradTileFn score_grad;
  MaskTileFn mask;  // required when a table lists partial blocks
};

/// out [B,H,Sq,Dv] = softmax(mask(score_mod(q kᵀ * scale))) v and lse [B,H,Sq] (natural
/// log of each row's normaliser; -inf for a row with nothing to attend to, whose
/// output is 0). out and lse must be allocated, contiguous.
void forward(const Tensor& q, const Tensor& k, const Tensor& v, const BlockMaskTables& mask, const Mods& mods,
             double scale, const Tensor& out, const Tensor& lse);

/// Gradients w.r.t. q, k and v from the forward's out and lse and the gradient of out.
/// dq, dk and dv must be allocated, contiguous; they are overwritten.
void backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
              const Tensor& grad_out, const BlockMaskTables& mask, const Mods& mods, double scale, const Tensor& dq,
              const Tensor& dk, const Tensor& dv);

/// Checks q, k, v and the tables against each other; a user error naming what is wrong.
void check_inputs(const Tensor& q, const Tensor& k, const Tensor& v, const BlockMaskTables& mask);

}  // namespace aotgrad::ops::flex
