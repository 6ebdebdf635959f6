// User-defined autograd functions (torch.autograd.Function).
#include "aotgrad/autograd.h"
#include "autograd/node.h"
#include "support/error.h"

namespace aotgrad::autograd {

namespace {
class FunctionNode final : public Node {
 public:
  FunctionNode(uint64_t seq, std::string name, std::shared_ptr<FunctionContext> ctx, FunctionBackward bw)
      : Node(seq), name_(std::move(name)), ctx_(std::move(ctx)), backward_(std::move(bw)) {}
  std::string name() const override { return name_; }
  bool materialize_grads() const override { return ctx_->materialize_grads; }
  TensorList apply(TensorList&& grads) override {
    ctx_->needs_input_grad.clear();
    for (const Edge& e : next_edges()) ctx_->needs_input_grad.push_back(e.valid());
    TensorList result = backward_(*ctx_, grads);
    AG_CHECK(result.size() == next_edges().size(), "{}: backward returned {} gradients, but the function has {} inputs",
             name_, result.size(), next_edges().size());
    for (size_t i = 0; i < result.size(); ++i) {
      if (!next_edges()[i].valid() || !result[i].defined()) {
        result[i] = Tensor();
        continue;
      }
      AG_CHECK(result[i].sizes() == edge_metas()[i].sizes,
               "{}: backward returned a gradient {} for input {}, whose shape is {}", name_, result[i].describe(), i,
               shape_str(edge_metas()[i].sizes));
    }
    return result;
  }

 private:
  std::string name_;
  std::shared_ptr<FunctionContext> ctx_;
  FunctionBackward backward_;
};
}  // namespace

TensorList apply_function(const std::string& name, const TensorList& inputs, const FunctionForward& forward,
                          const FunctionBackward& backward) {
  auto ctx = std::make_shared<FunctionContext>();
  bool any = false;
  for (const Tensor& t : inputs) any = any || (t.defined() && t.requires_grad());
  any = any && is_grad_enabled();
  TensorList outs;
  {
    NoGradGuard no_grad;
    outs = forward(*ctx, inputs);
  }
  if (!any) return outs;
  auto node = std::make_shared<FunctionNode>(next_sequence_nr(), name, ctx, backward);
  node->creation_context = capture_creation_context();
  for (const Tensor& t : inputs) {
    node->next_edges().push_back(gradient_edge(t));
    node->edge_metas().push_back(meta_of(t));
  }
  for (size_t i = 0; i < outs.size(); ++i) {
    node->input_metas().push_back(meta_of(outs[i]));
    if (!outs[i].defined() || !is_floating(outs[i].dtype())) continue;
    // Outputs that alias an input get a fresh handle, so the input keeps its history.
    for (const Tensor& in : inputs)
      if (outs[i].is_same(in)) outs[i] = outs[i].detach();
    outs[i].impl()->requires_grad = true;
    outs[i].impl()->grad_fn = node;
    outs[i].impl()->output_nr = static_cast<uint32_t>(i);
  }
  return outs;
}

}  // namespace aotgrad::autograd
