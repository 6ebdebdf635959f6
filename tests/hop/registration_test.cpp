// A new higher-order op is one file and one registration (Note [One home per
// higher-order op]): registered here from a test, it is verified, checked against its
// result metadata and interpreted like the built-in ones, with no other change.
#include <gtest/gtest.h>

#include "aotgrad/graph.h"
#include "aotgrad/ops.h"
#include "graph/higher_order.h"
#include "support/error.h"
#include "test_util.h"

using namespace aotgrad;
using aotgrad::testing::error_of;

namespace {
// twice(x) -> (2 * x,)
class Twice : public graph::HigherOrderImpl {
 public:
  std::vector<std::optional<graph::TensorVal>> result_meta(const std::vector<graph::TensorVal>& in) const override {
    return {in[0]};
  }
  std::vector<Tensor> run(const std::vector<Tensor>& in) const override { return {mul(in[0], 2.0)}; }
};

void register_twice() {
  graph::register_higher_order_op("twice", [](graph::HigherOrderArgs& args) {
    AG_CHECK(args.args().size() == 1, "{} takes one tensor", args.where());
    args.operand(args.args()[0], "x");
    return std::make_shared<const Twice>();
  });
}

std::shared_ptr<graph::GraphModule> twice_graph(const Shape& recorded) {
  auto gm = std::make_shared<graph::GraphModule>();
  graph::Graph& g = *gm->graph;
  graph::Node* x = g.placeholder("x");
  x->meta.val = graph::FakeVal::tensor(graph::TensorVal::of(Tensor::meta({2, 3}, DType::Float32)));
  graph::Node* call = g.call_higher_order("twice", {graph::Arg(x)});
  call->meta.val.kind = graph::FakeVal::Kind::Tuple;
  call->meta.val.items.push_back(graph::TensorVal::of(Tensor::meta(recorded, DType::Float32)));
  graph::Node* item = g.getitem(call, 0);
  item->meta.val = graph::FakeVal::tensor(*call->meta.val.items[0]);
  g.output({graph::Arg(item)});
  return gm;
}
}  // namespace

TEST(HigherOrderRegistration, ANewOpIsOneRegistration) {
  register_twice();
  auto gm = twice_graph({2, 3});
  EXPECT_EQ(error_of([&] { graph::verify(*gm); }), "");
  EXPECT_EQ(error_of([&] { graph::verify_metadata(*gm); }), "");
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  std::vector<IValue> out = graph::interpret(*gm, {IValue(x)});
  EXPECT_EQ(out[0].to_tensor().to_vector<float>(), (std::vector<float>{2, 4, 6, 8, 10, 12}));
  // The printed form is FX's for any higher-order op.
  EXPECT_NE(graph::print_readable(*gm).find("torch.ops.higher_order.twice(x)"), std::string::npos)
      << graph::print_readable(*gm);
}

TEST(HigherOrderRegistration, ResultMetadataComesFromTheOpsFile) {
  register_twice();
  const std::string e = error_of([&] { graph::verify_metadata(*twice_graph({3, 2})); });
  EXPECT_NE(e.find("result 0 is recorded as f32[3, 2], but its shape rule gives f32[2, 3]"), std::string::npos) << e;
}

TEST(HigherOrderRegistration, AnUnregisteredOpIsAClearError) {
  auto gm = std::make_shared<graph::GraphModule>();
  graph::Node* x = gm->graph->placeholder("x");
  gm->graph->output({graph::Arg(gm->graph->call_higher_order("never_registered", {graph::Arg(x)}))});
  const std::string e = error_of([&] { graph::verify(*gm); });
  EXPECT_NE(e.find("calls the unknown higher-order op 'never_registered'"), std::string::npos) << e;
}
