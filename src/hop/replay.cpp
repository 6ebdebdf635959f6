// Replaying a captured graph's higher-order nodes (see hop_internal.h).
//
// A forward graph captured from a module holds invoke_subgraph and flex_attention
// nodes with their subgraphs. Exporting the joint graph from it runs that graph on
// proxies; each higher-order node is called again through the same entry points a
// module uses, with the captured subgraphs standing in for the user's functions, so
// the joint graph gets the same higher-order nodes and backward as from the module.
#include "hop/replay.h"
#include "graph/higher_order.h"
#include "hop/hop_internal.h"
#include "support/error.h"

namespace aotgrad::hop_detail {

namespace {
using graph::Arg;

TensorList run_subgraph(const graph::GraphModule& g, const TensorList& inputs, const graph::NodeWrapper& around) {
  std::vector<IValue> in(inputs.begin(), inputs.end());
  auto runner = [around](const graph::GraphModule& owner, const graph::Node& n, const std::vector<Tensor>& operands) {
    return replay_higher_order(owner, n, operands, around);
  };
  TensorList out;
  for (const IValue& v : graph::interpret(g, in, around, runner))
    out.push_back(v.is_tensor() ? v.to_tensor() : Tensor());
  return out;
}

std::shared_ptr<graph::GraphModule> subgraph_of(const graph::GraphModule& owner, const Arg& a) {
  AG_CHECK(a.is_node() && a.node()->op() == graph::NodeOp::GetAttr, "replay: expected a subgraph argument");
  auto g = owner.subgraph(a.node()->target().name);
  AG_CHECK(g != nullptr, "replay: the module has no subgraph '{}'", a.node()->target().name);
  return g;
}

Tensor constant_of(const graph::GraphModule& owner, const Arg& a) {
  if (!a.is_node() || a.node()->op() != graph::NodeOp::GetAttr) return Tensor();
  const Tensor* t = owner.constant(a.node()->target().name);
  return t != nullptr ? *t : Tensor();
}

std::vector<Tensor> replay_flex(const graph::GraphModule& owner, const graph::Node& n,
                                const std::vector<Tensor>& operands, const graph::NodeWrapper& around) {
  const Arg::List& a = n.args();
  auto score_graph = subgraph_of(owner, a[3]);
  const Arg::List& mask_args = a[4].list();
  auto mask_graph = subgraph_of(owner, mask_args[hop_detail::kMaskGraph]);
  ScoreMod score_mod;
  if (!hop_detail::is_identity_score_graph(*score_graph))
    score_mod = [score_graph, around](const Tensor& s, const Tensor& b, const Tensor& h, const Tensor& q,
                                      const Tensor& kv) {
      return run_subgraph(*score_graph, {s, b, h, q, kv}, around)[0];
    };
  BlockMask m;
  m.kv_len = mask_args[hop_detail::kKvLen].to_int();
  m.q_len = mask_args[hop_detail::kQLen].to_int();
  m.q_block = mask_args[hop_detail::kQBlock].to_int();
  m.kv_block = mask_args[hop_detail::kKvBlock].to_int();
  m.mask_mod = [mask_graph, around](const Tensor& b, const Tensor& h, const Tensor& q, const Tensor& kv) {
    return run_subgraph(*mask_graph, {b, h, q, kv}, around)[0];
  };
  // The operands are q, k, v, then the key-block tables that are present (argument order).
  size_t next = 3;
  Tensor* kv_tables[] = {&m.kv_num_blocks, &m.kv_indices, &m.full_kv_num_blocks, &m.full_kv_indices};
  for (int i = 0; i < 4; ++i)
    if (mask_args[static_cast<size_t>(hop_detail::kKvNumBlocks + i)].is_node()) *kv_tables[i] = operands.at(next++);
  m.q_num_blocks = constant_of(owner, mask_args[hop_detail::kQNumBlocks]);
  m.q_indices = constant_of(owner, mask_args[hop_detail::kQIndices]);
  m.full_q_num_blocks = constant_of(owner, mask_args[hop_detail::kFullQNumBlocks]);
  m.full_q_indices = constant_of(owner, mask_args[hop_detail::kFullQIndices]);
  const double scale = a[5].is_double() ? a[5].to_double() : static_cast<double>(a[5].to_int());
  return flex_attention_outputs(operands[0], operands[1], operands[2], score_mod, m, scale);
}
}  // namespace

std::vector<Tensor> replay_higher_order(const graph::GraphModule& owner, const graph::Node& n,
                                        const std::vector<Tensor>& operands, const graph::NodeWrapper& around) {
  const graph::HigherOrderCall call(owner, n);  // checks the node's form
  if (call.op() == hop_detail::kInvokeSubgraph) {
    std::shared_ptr<graph::GraphModule> sub = call.invoked();
    const std::string name = n.args()[0].node()->target().name;
    NestedCompileRegion::Fn body = [sub, around](const TensorList& in) { return run_subgraph(*sub, in, around); };
    return invoke_region(name, "captured@" + std::to_string(reinterpret_cast<uintptr_t>(sub.get())), body, operands);
  }
  if (call.op() == hop_detail::kFlexAttention) return replay_flex(owner, n, operands, around);
  AG_FAIL("replay: node '{}' calls {}, which a captured forward graph does not hold (export from the module)", n.name(),
          call.op());
}

}  // namespace aotgrad::hop_detail
