// invoke_subgraph(subgraph, identifier, operands…) as a graph node: its form, result
// metadata and run (Note [One home per higher-order op]).
#include "graph/higher_order.h"
#include "hop/hop_internal.h"
#include "support/error.h"

namespace aotgrad::hop_detail {

namespace {
class InvokeSubgraph : public graph::HigherOrderImpl {
 public:
  InvokeSubgraph(std::shared_ptr<graph::GraphModule> body, std::string where)
      : body_(std::move(body)), where_(std::move(where)) {}

  std::vector<std::optional<graph::TensorVal>> result_meta(
      const std::vector<graph::TensorVal>& operands) const override {
    // The subgraph was traced at fixed shapes: the operands must have them, and the
    // results are what its output node records.
    const auto placeholders = body_->graph->placeholders();
    for (size_t i = 0; i < operands.size(); ++i) {
      const graph::FakeVal& want = placeholders[i]->meta.val;
      if (want.kind != graph::FakeVal::Kind::Tensor) continue;
      AG_CHECK(want.items[0]->sizes == operands[i].sizes && want.items[0]->dtype == operands[i].dtype,
               "{}: operand {} is {}, but subgraph '{}' takes {}", where_, i, operands[i].str(), body_->name,
               want.items[0]->str());
    }
    std::vector<std::optional<graph::TensorVal>> out;
    for (const graph::Arg& a : body_->graph->output_node()->args()[0].list()) {
      if (!a.is_node() || a.node()->meta.val.kind != graph::FakeVal::Kind::Tensor) {
        out.emplace_back(std::nullopt);
        continue;
      }
      graph::TensorVal v = *a.node()->meta.val.items[0];
      v.strides = contiguous_strides(v.sizes);  // results are fresh, dense tensors
      v.offset = 0;
      out.emplace_back(std::move(v));
    }
    return out;
  }

  std::vector<Tensor> run(const std::vector<Tensor>& operands) const override {
    std::vector<IValue> in(operands.begin(), operands.end());
    std::vector<Tensor> out;
    for (const IValue& r : graph::interpret(*body_, in)) out.push_back(r.is_tensor() ? r.to_tensor() : Tensor());
    return out;
  }

  std::shared_ptr<graph::GraphModule> invoked() const override { return body_; }

 private:
  std::shared_ptr<graph::GraphModule> body_;
  std::string where_;
};

std::shared_ptr<const graph::HigherOrderImpl> resolve(graph::HigherOrderArgs& args) {
  const graph::Arg::List& a = args.args();
  AG_CHECK(a.size() >= 2 && a[1].is_string(), "{} must take (subgraph, identifier, operands…), but has {} arguments",
           args.where(), a.size());
  std::shared_ptr<graph::GraphModule> body = args.subgraph(a[0], "subgraph");
  for (size_t i = 2; i < a.size(); ++i) {
    AG_CHECK(a[i].is_node(), "{}: operand {} must be a tensor", args.where(), i - 2);
    args.operand(a[i], "operand");
  }
  AG_CHECK(body->graph->placeholders().size() == args.operands().size(),
           "{}: subgraph '{}' takes {} inputs, but the node passes {}", args.where(), a[0].node()->target().name,
           body->graph->placeholders().size(), args.operands().size());
  AG_CHECK(body->graph->output_node() != nullptr, "{}: subgraph '{}' has no output node", args.where(), body->name);
  return std::make_shared<InvokeSubgraph>(std::move(body), args.where());
}
}  // namespace

void register_invoke_subgraph_node() {
  graph::register_higher_order_op(kInvokeSubgraph, resolve);
}

}  // namespace aotgrad::hop_detail
