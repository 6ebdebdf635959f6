// Resolving and running higher-order op nodes: see higher_order.h.
#include "graph/higher_order.h"

#include <numeric>

#include "aotgrad/ops.h"
#include "ops/dispatch.h"
#include "support/error.h"

namespace aotgrad::graph {

namespace {
Tensor index_column(int64_t start, int64_t n, bool as_row) {
  std::vector<int32_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), static_cast<int32_t>(start));
  return Tensor::from_vector<int32_t>(idx, as_row ? Shape{1, n} : Shape{n, 1});
}

// (b, h, q_idx [rows, 1], kv_idx [1, cols]): broadcasting makes an elementwise
// mod computed on these one value per tile entry.
std::vector<IValue> tile_indices(const ops::flex::Tile& t) {
  return {IValue(Tensor::scalar<int32_t>(static_cast<int32_t>(t.b))),
          IValue(Tensor::scalar<int32_t>(static_cast<int32_t>(t.h))), IValue(index_column(t.q0, t.rows, false)),
          IValue(index_column(t.kv0, t.cols, true))};
}

Tensor single_result(const GraphModule& g, const std::vector<IValue>& inputs, const char* what) {
  AG_CHECK(g.graph->placeholders().size() == inputs.size(), "flex_attention: the {} graph '{}' takes {} inputs, not {}",
           what, g.name, g.graph->placeholders().size(), inputs.size());
  std::vector<IValue> out = interpret(g, inputs);
  AG_CHECK(!out.empty() && out[0].is_tensor() && out[0].to_tensor().defined(),
           "flex_attention: the {} graph '{}' must return a tensor", what, g.name);
  return out[0].to_tensor();
}
}  // namespace

bool is_identity_score_graph(const GraphModule& g) {
  const Node* out = g.graph->output_node();
  const auto ph = g.graph->placeholders();
  if (out == nullptr || ph.empty()) return false;
  const Arg::List& values = out->args()[0].list();
  return !values.empty() && values[0].is_node() && values[0].node() == ph[0];
}

ops::flex::Mods flex_mods(std::shared_ptr<const GraphModule> score_graph,
                          std::shared_ptr<const GraphModule> score_grad_graph,
                          std::shared_ptr<const GraphModule> mask_graph) {
  ops::flex::Mods mods;
  if (score_graph && !is_identity_score_graph(*score_graph)) {
    mods.score = [score_graph](const Tensor& scores, const ops::flex::Tile& t) {
      std::vector<IValue> in = tile_indices(t);
      in.insert(in.begin(), IValue(scores));
      copy_(scores, single_result(*score_graph, in, "score_mod"));
    };
    if (score_grad_graph) {
      mods.score_grad = [score_grad_graph](const Tensor& raw, const Tensor& grad, const ops::flex::Tile& t) {
        std::vector<IValue> in = tile_indices(t);
        in.insert(in.begin(), IValue(raw));
        in.emplace_back(grad);
        Tensor g = single_result(*score_grad_graph, in, "score_mod joint");
        copy_(grad, g);
      };
    }
  }
  if (mask_graph) {
    mods.mask = [mask_graph](const Tensor& keep, const ops::flex::Tile& t) {
      Tensor m = single_result(*mask_graph, tile_indices(t), "mask_mod");
      AG_CHECK(m.dtype() == DType::Bool, "flex_attention: mask_mod must return a bool tensor, but '{}' returned {}",
               mask_graph->name, m.describe());
      copy_(keep, m);
    };
  }
  return mods;
}

int HigherOrderCall::operand(const Arg& a, const char* what) {
  if (a.is_none()) return -1;
  AG_CHECK(a.is_node(), "{} '{}': argument {} must be a tensor or None", op_, node_, what);
  operands_.push_back(a.node());
  return static_cast<int>(operands_.size()) - 1;
}

std::shared_ptr<GraphModule> HigherOrderCall::subgraph_arg(const GraphModule& owner, const Arg& a,
                                                           const char* what) const {
  AG_CHECK(a.is_node() && a.node()->op() == NodeOp::GetAttr,
           "{} '{}': the {} argument must be a get_attr node naming a subgraph", op_, node_, what);
  std::shared_ptr<GraphModule> g = owner.subgraph(a.node()->target().name);
  AG_CHECK(g != nullptr, "{} '{}': the module has no subgraph '{}' (the {})", op_, node_, a.node()->target().name,
           what);
  return g;
}

void HigherOrderCall::resolve_block_mask(const GraphModule& owner, const Arg& a) {
  AG_CHECK(a.is_list() && a.list().size() == kBlockMaskArgs,
           "{} '{}': the block mask argument must be a list of {} entries (kv_len, q_len, the eight tables, q_block, "
           "kv_block, mask_graph)",
           op_, node_, static_cast<int>(kBlockMaskArgs));
  const Arg::List& l = a.list();
  for (int i : {kKvLen, kQLen, kQBlock, kKvBlock})
    AG_CHECK(l[static_cast<size_t>(i)].is_int(), "{} '{}': block mask entry {} must be an int", op_, node_, i);
  kv_len_ = l[kKvLen].to_int();
  q_len_ = l[kQLen].to_int();
  q_block_ = l[kQBlock].to_int();
  kv_block_ = l[kKvBlock].to_int();
  const char* names[] = {"kv_num_blocks", "kv_indices", "full_kv_num_blocks", "full_kv_indices"};
  for (int i = 0; i < 4; ++i) mask_tables_[i] = operand(l[static_cast<size_t>(kKvNumBlocks + i)], names[i]);
  // The transposed (query-major) tables are part of the mask's structure; the CPU
  // kernels walk query blocks, so they are carried but not read.
  for (int i = kQNumBlocks; i <= kFullQIndices; ++i)
    AG_CHECK(l[static_cast<size_t>(i)].is_none() || l[static_cast<size_t>(i)].is_node(),
             "{} '{}': block mask entry {} must be a tensor or None", op_, node_, i);
  mods_.mask = flex_mods(nullptr, nullptr, subgraph_arg(owner, l[kMaskGraph], "mask_graph")).mask;
}

HigherOrderCall::HigherOrderCall(const GraphModule& owner, const Node& n) : op_(n.target().name), node_(n.name()) {
  AG_CHECK(n.target().kind == Target::Kind::HigherOrder, "node '{}' is not a higher-order op call", n.name());
  const Arg::List& a = n.args();
  auto scale_of = [&](const Arg& s) {
    AG_CHECK(s.is_double() || s.is_int(), "{} '{}': the scale must be a number", op_, node_);
    return s.is_double() ? s.to_double() : static_cast<double>(s.to_int());
  };
  if (op_ == kInvokeSubgraph) {
    AG_CHECK(a.size() >= 2 && a[1].is_string(),
             "invoke_subgraph '{}' must take (subgraph, identifier, operands…), but has {} arguments", node_, a.size());
    invoked_ = subgraph_arg(owner, a[0], "subgraph");
    for (size_t i = 2; i < a.size(); ++i) {
      AG_CHECK(a[i].is_node(), "invoke_subgraph '{}': operand {} must be a tensor", node_, i - 2);
      operand(a[i], "operand");
    }
    AG_CHECK(invoked_->graph->placeholders().size() == operands_.size(),
             "invoke_subgraph '{}': subgraph '{}' takes {} inputs, but the node passes {}", node_,
             a[0].node()->target().name, invoked_->graph->placeholders().size(), operands_.size());
  } else if (op_ == kFlexAttention) {
    AG_CHECK(a.size() == 8,
             "flex_attention '{}' must take 8 arguments (q, k, v, score_mod, block_mask, scale, (), ()), "
             "but has {}",
             node_, a.size());
    q_ = operand(a[0], "query");
    k_ = operand(a[1], "key");
    v_ = operand(a[2], "value");
    auto score = subgraph_arg(owner, a[3], "score_mod");
    resolve_block_mask(owner, a[4]);
    scale_ = scale_of(a[5]);
    ops::flex::Mods m = flex_mods(score, nullptr, nullptr);
    mods_.score = m.score;
  } else if (op_ == kFlexAttentionBackward) {
    AG_CHECK(a.size() == 13,
             "flex_attention_backward '{}' must take 13 arguments (q, k, v, out, lse, grad_out, grad_lse, fw_graph, "
             "joint_graph, block_mask, scale, (), ()), but has {}",
             node_, a.size());
    q_ = operand(a[0], "query");
    k_ = operand(a[1], "key");
    v_ = operand(a[2], "value");
    out_ = operand(a[3], "out");
    lse_ = operand(a[4], "logsumexp");
    grad_out_ = operand(a[5], "grad_out");
    AG_CHECK(out_ >= 0 && lse_ >= 0 && grad_out_ >= 0,
             "flex_attention_backward '{}': out, logsumexp and grad_out must be tensors", node_);
    // The gradient of logsumexp (a[6]) is None when only `out` was used, which is
    // all the graphs here make; a defined one is not supported by the kernels.
    AG_CHECK(a[6].is_none(),
             "flex_attention_backward '{}': a gradient flowing into logsumexp is not supported (use only the output)",
             node_);
    auto fw = subgraph_arg(owner, a[7], "fw_graph");
    auto joint = subgraph_arg(owner, a[8], "joint_graph");
    resolve_block_mask(owner, a[9]);
    scale_ = scale_of(a[10]);
    ops::flex::Mods m = flex_mods(fw, joint, nullptr);
    mods_.score = m.score;
    mods_.score_grad = m.score_grad;
  } else {
    AG_FAIL(
        "node '{}' calls the unknown higher-order op '{}' (known: invoke_subgraph, flex_attention, "
        "flex_attention_backward)",
        node_, op_);
  }
  AG_CHECK(op_ == kInvokeSubgraph || (q_ >= 0 && k_ >= 0 && v_ >= 0), "{} '{}': q, k and v must be tensors", op_,
           node_);
}

ops::flex::BlockMaskTables HigherOrderCall::tables(const std::vector<Tensor>& values) const {
  ops::flex::BlockMaskTables t;
  t.q_len = q_len_;
  t.kv_len = kv_len_;
  t.q_block = q_block_;
  t.kv_block = kv_block_;
  auto at = [&](int i) { return i < 0 ? Tensor() : values[static_cast<size_t>(i)]; };
  t.kv_num_blocks = at(mask_tables_[0]);
  t.kv_indices = at(mask_tables_[1]);
  t.full_kv_num_blocks = at(mask_tables_[2]);
  t.full_kv_indices = at(mask_tables_[3]);
  return t;
}

std::vector<Tensor> HigherOrderCall::run(const std::vector<Tensor>& values) const {
  AG_CHECK(values.size() == operands_.size(), "{} '{}': {} operands given, {} expected", op_, node_, values.size(),
           operands_.size());
  if (op_ == kInvokeSubgraph) {
    std::vector<IValue> in(values.begin(), values.end());
    std::vector<Tensor> out;
    for (const IValue& r : interpret(*invoked_, in)) out.push_back(r.is_tensor() ? r.to_tensor() : Tensor());
    return out;
  }
  for (const Tensor& t : values)
    AG_CHECK(!t.defined() || !t.is_meta(),
             "{} '{}' runs on real tensors only; a graph holding it cannot be traced again (export from the module)",
             op_, node_);
  for (const Tensor& t : values)
    AG_CHECK(!t.defined() || !t.requires_grad() || !ops::grad_mode_enabled(),
             "{} '{}': running a graph does not record its gradient, but operand {} requires grad (call "
             "flex_attention on the module's tensors instead, or run under no_grad)",
             op_, node_, t.describe());
  auto dense = [&](int i) { return contiguous(values[static_cast<size_t>(i)]); };
  const Tensor q = dense(q_), k = dense(k_), v = dense(v_);
  const ops::flex::BlockMaskTables t = tables(values);
  if (op_ == kFlexAttention) {
    Tensor out = Tensor::empty({q.size(0), q.size(1), q.size(2), v.size(3)}, q.dtype());
    Tensor lse = Tensor::empty({q.size(0), q.size(1), q.size(2)}, q.dtype());
    ops::flex::forward(q, k, v, t, mods_, scale_, out, lse);
    return {out, lse};
  }
  Tensor dq = Tensor::empty(q.sizes(), q.dtype()), dk = Tensor::empty(k.sizes(), q.dtype()),
         dv = Tensor::empty(v.sizes(), q.dtype());
  ops::flex::backward(q, k, v, dense(out_), dense(lse_), dense(grad_out_), t, mods_, scale_, dq, dk, dv);
  return {dq, dk, dv};
}

}  // namespace aotgrad::graph
