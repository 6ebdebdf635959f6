// Nested compile regions: the traced subgraphs, their sequence numbers and
// annotations, reuse, parameters lifted from module regions, and execution.
#include <gtest/gtest.h>

#include <cmath>

#include "aotgrad/autograd.h"
#include "aotgrad/compile.h"
#include "aotgrad/export.h"
#include "aotgrad/hop.h"
#include "aotgrad/models.h"
#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "test_util.h"

using namespace aotgrad;

namespace {
using Groups = std::vector<std::vector<std::string>>;

exporting::JointWithDescriptors export_module(nn::Module& m, const TensorList& inputs) {
  nn::Args args(inputs.begin(), inputs.end());
  return exporting::aot_export_joint_with_descriptors(m, args, {});
}

bool close(const Tensor& a, const Tensor& b, double tol) {
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (std::abs(x[i] - y[i]) > tol * (1 + std::abs(y[i]))) return false;
  return true;
}

int count_calls(const graph::GraphModule& gm, const std::string& hop) {
  int n = 0;
  for (const auto& node : gm.graph->nodes())
    n += node->target().kind == graph::Target::Kind::HigherOrder && node->target().name == hop ? 1 : 0;
  return n;
}

// Two Linear layers of one shape, each called as the same region, with a tanh between.
class TwoLayers : public nn::Module {
 public:
  TwoLayers()
      : Module("TwoLayers"),
        a_(register_module("a", std::make_shared<nn::Linear>(6, 6))),
        b_(register_module("b", std::make_shared<nn::Linear>(6, 6))),
        region_a_("layer", *a_),
        region_b_("layer", *b_) {}
  pytree::Value forward(const nn::Args& args, const nn::Kwargs&) override {
    Tensor x = args.at(0).leaf().to_tensor();
    Tensor h = tanh(region_a_({x})[0]);
    return region_b_({h})[0];
  }

 private:
  std::shared_ptr<nn::Linear> a_, b_;
  NestedCompileRegion region_a_, region_b_;
};
}  // namespace

TEST(InvokeSubgraph, SequenceNumberGroupsOfTheGraphAndBothSubgraphs) {
  models::Instance inst = models::instantiate(models::find_model("invoke_subgraph"));
  auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs);
  const graph::GraphModule& gm = *joint.graph_module;
  EXPECT_EQ(exporting::get_ordered_seq_nr_groups(gm),
            (Groups{{"getitem", "getitem_1", "invoke_subgraph", "invoke_subgraph_1"}, {"sub"}}));
  ASSERT_NE(gm.subgraph("repeated_subgraph0"), nullptr);
  ASSERT_NE(gm.subgraph("repeated_subgraph1"), nullptr);
  EXPECT_EQ(exporting::get_ordered_seq_nr_groups(*gm.subgraph("repeated_subgraph0")), (Groups{{"sin"}, {"mul"}}));
  EXPECT_EQ(exporting::get_ordered_seq_nr_groups(*gm.subgraph("repeated_subgraph1")),
            (Groups{{"cos", "mul_2", "sin"}, {"mul", "mul_1"}}));
}

TEST(InvokeSubgraph, AnnotationsOfTheCallSiteAndOfTheRegionBody) {
  models::Instance inst = models::instantiate(models::find_model("invoke_subgraph"));
  auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs);
  const graph::GraphModule& gm = *joint.graph_module;
  const std::string my_mod = "{'mod_name': 'my_mod'}", bar = "{'mod_name': 'bar'}";
  for (const char* name : {"repeated_subgraph0", "getitem", "getitem_1"})
    EXPECT_EQ(graph::annotations_str(gm.graph->find(name)->meta.custom), my_mod) << name;
  // The calls also carry which call of the region they are (the backward's first).
  EXPECT_EQ(graph::annotations_str(gm.graph->find("invoke_subgraph")->meta.custom),
            "{'mod_name': 'my_mod', 'call_id': 1}");
  EXPECT_EQ(graph::annotations_str(gm.graph->find("invoke_subgraph_1")->meta.custom),
            "{'call_id': 1, 'mod_name': 'my_mod'}");
  EXPECT_TRUE(gm.graph->find("sub")->meta.custom.empty());
  for (const char* sub : {"repeated_subgraph0", "repeated_subgraph1"})
    for (const auto& n : gm.subgraph(sub)->graph->nodes()) {
      if (n->op() == graph::NodeOp::CallFunction) {
        EXPECT_EQ(graph::annotations_str(n->meta.custom), bar) << sub << "." << n->name();
      }
    }
  // The backward call carries the forward call's seq_nr and is marked as backward.
  EXPECT_EQ(gm.graph->find("invoke_subgraph_1")->meta.seq_nr, gm.graph->find("invoke_subgraph")->meta.seq_nr);
  EXPECT_TRUE(gm.graph->find("invoke_subgraph_1")->meta.is_backward);
}

TEST(InvokeSubgraph, TwoInstancesOfOneModuleShareTheSubgraphsWithTheirOwnParameters) {
  manual_seed(0);
  TwoLayers model;
  Tensor x = randn({3, 6});
  x.set_requires_grad(true);  // both calls then see operands that require grad: one signature
  auto joint = export_module(model, {x});
  const graph::GraphModule& gm = *joint.graph_module;
  EXPECT_EQ(gm.subgraphs.size(), 2u) << graph::print_readable(gm);
  EXPECT_EQ(count_calls(gm, "invoke_subgraph"), 4);
  // The subgraph takes (weight, bias, x): the parameters are lifted into inputs.
  EXPECT_EQ(gm.subgraph("repeated_subgraph0")->graph->placeholders().size(), 3u);

  // Compiled and eager training steps agree, parameter gradients included.
  compile::CompiledFunction f = compile::aot_compile_joint_with_descriptors(joint);
  Tensor eager = model({x}).leaf().to_tensor();
  TensorList params;
  for (auto& [name, slot] : model.parameter_slots()) params.push_back(*slot);
  TensorList wrt = params;
  wrt.push_back(x);
  Generator g(2);
  Tensor tangent = randn(eager.sizes(), DType::Float32, &g);
  TensorList want = autograd::grad({eager}, wrt, {tangent});
  Tensor compiled = f.call_module(model, {x}).leaf().to_tensor();
  TensorList got = autograd::grad({compiled}, wrt, {tangent});
  EXPECT_TRUE(close(compiled, eager, 1e-6));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(close(got[i], want[i], 1e-5)) << "gradient " << i;
}

TEST(InvokeSubgraph, EagerCallsRunTheRegionDirectly) {
  int calls = 0;
  NestedCompileRegion region("square", [&calls](const TensorList& in) {
    ++calls;
    return TensorList{in[0] * in[0]};
  });
  Tensor x = Tensor::from_vector<float>({1, 2, 3}, {3});
  x.set_requires_grad(true);
  Tensor y = region({x})[0];
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{1, 4, 9}));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(autograd::grad({sum(y)}, {x})[0].to_vector<float>(), (std::vector<float>{2, 4, 6}));
}

TEST(InvokeSubgraph, AFunctionRegionReadingAnOuterValueIsAClearError) {
  Tensor w = randn({4});
  w.set_requires_grad(true);
  NestedCompileRegion region("scaled", [&w](const TensorList& in) { return TensorList{in[0] * w}; });
  class UsesRegion : public nn::Module {
   public:
    UsesRegion(NestedCompileRegion& r, Tensor& w) : Module("UsesRegion"), r_(r), w_(w) { register_parameter("w", w_); }
    pytree::Value forward(const nn::Args& args, const nn::Kwargs&) override {
      return r_({args.at(0).leaf().to_tensor()})[0];
    }

   private:
    NestedCompileRegion& r_;
    Tensor& w_;
  };
  UsesRegion m(region, w);
  std::string e = aotgrad::testing::error_of([&] { export_module(m, {randn({4})}); });
  EXPECT_NE(e.find("nested compile region 'scaled'"), std::string::npos) << e;
  EXPECT_NE(e.find("another trace"), std::string::npos) << e;
}
