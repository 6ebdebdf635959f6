// flex_attention and flex_attention_backward as graph nodes: their form, result
// metadata and run on the block-sparse kernels (Note [One home per higher-order op]).
// The score_mod / mask_mod subgraphs become tile callbacks (flex_mods), the same ones
// the eager path uses (Note [One path for eager and graphs]).
#include <numeric>

#include "aotgrad/ops.h"
#include "graph/higher_order.h"
#include "hop/hop_internal.h"
#include "ops/dispatch.h"
#include "support/error.h"

namespace aotgrad::hop_detail {

namespace {
using graph::Arg;
using graph::GraphModule;

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
  std::vector<IValue> out = graph::interpret(g, inputs);
  AG_CHECK(!out.empty() && out[0].is_tensor() && out[0].to_tensor().defined(),
           "flex_attention: the {} graph '{}' must return a tensor", what, g.name);
  return out[0].to_tensor();
}

graph::TensorVal dense(Shape sizes, DType dtype) {
  graph::TensorVal v;
  v.strides = contiguous_strides(sizes);
  v.sizes = std::move(sizes);
  v.dtype = dtype;
  return v;
}

// What flex_attention and its backward share: q, k, v and the block mask.
class FlexNode : public graph::HigherOrderImpl {
 public:
  FlexNode(graph::HigherOrderArgs& args, size_t block_mask_at, size_t scale_at) : where_(args.where()) {
    const Arg::List& a = args.args();
    q_ = args.operand(a[0], "query");
    k_ = args.operand(a[1], "key");
    v_ = args.operand(a[2], "value");
    AG_CHECK(q_ >= 0 && k_ >= 0 && v_ >= 0, "{}: q, k and v must be tensors", where_);
    resolve_block_mask(args, a[block_mask_at]);
    scale_ = args.number(a[scale_at], "scale");
  }

 protected:
  void check_qkv(const std::vector<graph::TensorVal>& o) const {
    const auto& q = o[static_cast<size_t>(q_)];
    const auto& k = o[static_cast<size_t>(k_)];
    const auto& v = o[static_cast<size_t>(v_)];
    AG_CHECK(q.sizes.size() == 4 && k.sizes.size() == 4 && v.sizes.size() == 4,
             "{}: q, k and v must be 4-d [B, H, L, E], but got {}, {} and {}", where_, q.str(), k.str(), v.str());
  }
  std::vector<Tensor> real(const std::vector<Tensor>& values) const {
    for (const Tensor& t : values)
      AG_CHECK(!t.defined() || !t.is_meta(),
               "{} runs on real tensors only; a graph holding it cannot be traced again (export from the module)",
               where_);
    for (const Tensor& t : values)
      AG_CHECK(!t.defined() || !t.requires_grad() || !ops::grad_mode_enabled(),
               "{}: running a graph does not record its gradient, but operand {} requires grad (call "
               "flex_attention on the module's tensors instead, or run under no_grad)",
               where_, t.describe());
    std::vector<Tensor> out;
    for (const Tensor& t : values) out.push_back(t.defined() ? contiguous(t) : t);
    return out;
  }
  ops::flex::BlockMaskTables tables(const std::vector<Tensor>& values) const {
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

  std::string where_;
  int q_ = -1, k_ = -1, v_ = -1;
  int mask_tables_[4] = {-1, -1, -1, -1};  // kv_num_blocks, kv_indices, full_kv_num_blocks, full_kv_indices
  int64_t q_len_ = 0, kv_len_ = 0, q_block_ = 0, kv_block_ = 0;
  double scale_ = 1.0;
  ops::flex::Mods mods_;

 private:
  void resolve_block_mask(graph::HigherOrderArgs& args, const Arg& a) {
    AG_CHECK(a.is_list() && a.list().size() == kBlockMaskArgs,
             "{}: the block mask argument must be a list of {} entries (kv_len, q_len, the eight tables, q_block, "
             "kv_block, mask_graph)",
             where_, static_cast<int>(kBlockMaskArgs));
    const Arg::List& l = a.list();
    for (int i : {kKvLen, kQLen, kQBlock, kKvBlock})
      AG_CHECK(l[static_cast<size_t>(i)].is_int(), "{}: block mask entry {} must be an int", where_, i);
    kv_len_ = l[kKvLen].to_int();
    q_len_ = l[kQLen].to_int();
    q_block_ = l[kQBlock].to_int();
    kv_block_ = l[kKvBlock].to_int();
    AG_CHECK(q_block_ > 0 && kv_block_ > 0 && q_len_ >= 0 && kv_len_ >= 0,
             "{}: block sizes must be positive and lengths non-negative", where_);
    const char* names[] = {"kv_num_blocks", "kv_indices", "full_kv_num_blocks", "full_kv_indices"};
    for (int i = 0; i < 4; ++i) mask_tables_[i] = args.operand(l[static_cast<size_t>(kKvNumBlocks + i)], names[i]);
    // The transposed (query-major) tables are part of the mask's structure; the CPU
    // kernels walk query blocks, so they are carried but not read.
    for (int i = kQNumBlocks; i <= kFullQIndices; ++i)
      AG_CHECK(l[static_cast<size_t>(i)].is_none() || l[static_cast<size_t>(i)].is_node(),
               "{}: block mask entry {} must be a tensor or None", where_, i);
    mods_.mask = flex_mods(nullptr, nullptr, args.subgraph(l[kMaskGraph], "mask_graph")).mask;
  }
};

// flex_attention(q, k, v, score_graph, block_mask, scale, (), ()) -> (out, lse)
class FlexAttention : public FlexNode {
 public:
  explicit FlexAttention(graph::HigherOrderArgs& args) : FlexNode(args, 4, 5) {
    mods_.score = flex_mods(args.subgraph(args.args()[3], "score_mod"), nullptr, nullptr).score;
  }
  std::vector<std::optional<graph::TensorVal>> result_meta(const std::vector<graph::TensorVal>& o) const override {
    check_qkv(o);
    const auto& q = o[static_cast<size_t>(q_)];
    const auto& v = o[static_cast<size_t>(v_)];
    return {dense({q.sizes[0], q.sizes[1], q.sizes[2], v.sizes[3]}, q.dtype),
            dense({q.sizes[0], q.sizes[1], q.sizes[2]}, q.dtype)};
  }
  std::vector<Tensor> run(const std::vector<Tensor>& operands) const override {
    const std::vector<Tensor> x = real(operands);
    const Tensor &q = x[static_cast<size_t>(q_)], &k = x[static_cast<size_t>(k_)], &v = x[static_cast<size_t>(v_)];
    Tensor out = Tensor::empty({q.size(0), q.size(1), q.size(2), v.size(3)}, q.dtype());
    Tensor lse = Tensor::empty({q.size(0), q.size(1), q.size(2)}, q.dtype());
    ops::flex::forward(q, k, v, tables(x), mods_, scale_, out, lse);
    return {out, lse};
  }
};

// flex_attention_backward(q, k, v, out, lse, grad_out, grad_lse, fw_graph, joint_graph,
//                         block_mask, scale, (), ()) -> (dq, dk, dv)
class FlexAttentionBackward : public FlexNode {
 public:
  explicit FlexAttentionBackward(graph::HigherOrderArgs& args) : FlexNode(args, 9, 10) {
    const Arg::List& a = args.args();
    out_ = args.operand(a[3], "out");
    lse_ = args.operand(a[4], "logsumexp");
    grad_out_ = args.operand(a[5], "grad_out");
    AG_CHECK(out_ >= 0 && lse_ >= 0 && grad_out_ >= 0, "{}: out, logsumexp and grad_out must be tensors", where_);
    // The gradient of logsumexp (a[6]) is None when only `out` was used, which is all
    // the graphs here make; a defined one is not supported by the kernels.
    AG_CHECK(a[6].is_none(), "{}: a gradient flowing into logsumexp is not supported (use only the output)", where_);
    ops::flex::Mods m = flex_mods(args.subgraph(a[7], "fw_graph"), args.subgraph(a[8], "joint_graph"), nullptr);
    mods_.score = m.score;
    mods_.score_grad = m.score_grad;
  }
  std::vector<std::optional<graph::TensorVal>> result_meta(const std::vector<graph::TensorVal>& o) const override {
    check_qkv(o);
    const DType dt = o[static_cast<size_t>(q_)].dtype;
    return {dense(o[static_cast<size_t>(q_)].sizes, dt), dense(o[static_cast<size_t>(k_)].sizes, dt),
            dense(o[static_cast<size_t>(v_)].sizes, dt)};
  }
  std::vector<Tensor> run(const std::vector<Tensor>& operands) const override {
    const std::vector<Tensor> x = real(operands);
    auto at = [&](int i) { return x[static_cast<size_t>(i)]; };
    const Tensor q = at(q_), k = at(k_), v = at(v_);
    Tensor dq = Tensor::empty(q.sizes(), q.dtype()), dk = Tensor::empty(k.sizes(), q.dtype()),
           dv = Tensor::empty(v.sizes(), q.dtype());
    ops::flex::backward(q, k, v, at(out_), at(lse_), at(grad_out_), tables(x), mods_, scale_, dq, dk, dv);
    return {dq, dk, dv};
  }

 private:
  int out_ = -1, lse_ = -1, grad_out_ = -1;
};
}  // namespace

bool is_identity_score_graph(const GraphModule& g) {
  const graph::Node* out = g.graph->output_node();
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

void register_flex_attention_nodes() {
  graph::register_higher_order_op(kFlexAttention, [](graph::HigherOrderArgs& args) {
    AG_CHECK(args.args().size() == 8,
             "{} must take 8 arguments (q, k, v, score_mod, block_mask, scale, (), ()), but has {}", args.where(),
             args.args().size());
    return std::make_shared<const FlexAttention>(args);
  });
  graph::register_higher_order_op(kFlexAttentionBackward, [](graph::HigherOrderArgs& args) {
    AG_CHECK(args.args().size() == 13,
             "{} must take 13 arguments (q, k, v, out, lse, grad_out, grad_lse, fw_graph, joint_graph, block_mask, "
             "scale, (), ()), but has {}",
             args.where(), args.args().size());
    return std::make_shared<const FlexAttentionBackward>(args);
  });
}

}  // namespace aotgrad::hop_detail
