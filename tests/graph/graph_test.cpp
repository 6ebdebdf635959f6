#include <gtest/gtest.h>

#include <cmath>

#include "aotgrad/descriptors.h"
#include "aotgrad/error.h"
#include "aotgrad/graph.h"
#include "aotgrad/ops.h"
#include "aotgrad/trace.h"
#include "ops/registry.h"
#include "test_util.h"

using namespace aotgrad;
using aotgrad::testing::error_of;
using namespace aotgrad::graph;

TEST(Namespace, FollowsFxRules) {
  Namespace ns;
  EXPECT_EQ(ns.create_name("addmm"), "addmm");
  EXPECT_EQ(ns.create_name("addmm"), "addmm_1");
  EXPECT_EQ(ns.create_name("sum"), "sum_1");  // a Python builtin is never used bare
  EXPECT_EQ(ns.create_name("sum"), "sum_2");
  EXPECT_EQ(ns.create_name("primals_3"), "primals_3");
  EXPECT_EQ(ns.create_name("primals"), "primals");
  EXPECT_EQ(ns.create_name("primals"), "primals_4");  // counts on from the suffix last taken
  EXPECT_EQ(ns.create_name("3d"), "_3d");
  EXPECT_EQ(ns.create_name("a.b"), "a_b");
}

TEST(Printer, FloatsPrintLikePythonRepr) {
  EXPECT_EQ(python_float_repr(1.0), "1.0");
  EXPECT_EQ(python_float_repr(0.1), "0.1");
  EXPECT_EQ(python_float_repr(1e-05), "1e-05");
  EXPECT_EQ(python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(python_float_repr(1.032258064516129), "1.032258064516129");
  EXPECT_EQ(python_float_repr(1e16), "1e+16");
  EXPECT_EQ(python_float_repr(123456789.0), "123456789.0");
  EXPECT_EQ(python_float_repr(-2.5), "-2.5");
  EXPECT_EQ(python_float_repr(-INFINITY), "-inf");
}

TEST(Descriptor, PrintsParsesComparesAndHashes) {
  Descriptor w = Descriptor::param("linear.weight");
  Descriptor g = Descriptor::grad(w);
  Descriptor t = Descriptor::tangent(Descriptor::plain_output(0));
  EXPECT_EQ(g.str(), "GradAOTOutput(grad_of=ParamAOTInput(target='linear.weight'))");
  EXPECT_EQ(t.str(), "TangentAOTInput(output=PlainAOTOutput(idx=0))");
  EXPECT_EQ(Descriptor::parse(g.str()), g);
  EXPECT_EQ(Descriptor::parse(t.str()).hash(), t.hash());
  EXPECT_NE(Descriptor::param("a"), Descriptor::buffer("a"));
  EXPECT_TRUE(w.is_differentiable());
  EXPECT_FALSE(t.is_differentiable());
  EXPECT_NE(
      error_of([] { Descriptor::parse("GradAOTOutput(grad_of=Nope(idx=1))"); }).find("unknown descriptor kind 'Nope'"),
      std::string::npos);
  // A gradient is of an input, never of an output.
  EXPECT_NE(error_of([] { Descriptor::grad(Descriptor::plain_output(0)); }).find("cannot wrap"), std::string::npos);
}

namespace {
// x * y + x, traced.
std::shared_ptr<GraphModule> small_graph() {
  Tensor x = Tensor::from_vector<float>({1, 2, 3}, {3});
  Tensor y = Tensor::from_vector<float>({4, 5, 6}, {3});
  return trace::make_fx([](const TensorList& in) { return TensorList{add(mul(in[0], in[1]), in[0])}; }, {x, y});
}
}  // namespace

TEST(MakeFx, RecordsOpsAndInterpreterReproducesThem) {
  auto gm = small_graph();
  std::vector<std::string> names;
  for (const auto& n : gm->graph->nodes()) names.push_back(n->name());
  EXPECT_EQ(names, (std::vector<std::string>{"arg0_1", "arg1_1", "mul", "add", "output"}));
  std::vector<IValue> out =
      interpret(*gm, {Tensor::from_vector<float>({1, 1, 1}, {3}), Tensor::from_vector<float>({2, 3, 4}, {3})});
  EXPECT_EQ(out[0].to_tensor().to_vector<float>(), (std::vector<float>{3, 4, 5}));
}

TEST(MakeFx, DecompositionTableReplacesOps) {
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  auto fn = [](const TensorList& in) { return TensorList{reshape(t(in[0]), {6})}; };
  // reshape of a transposed tensor is not a view: it decomposes to clone + _unsafe_view.
  auto gm = trace::make_fx(fn, {x});
  std::vector<std::string> targets;
  for (const auto& n : gm->graph->nodes())
    if (n->op() == NodeOp::CallFunction) targets.push_back(n->target().qualified());
  EXPECT_EQ(targets, (std::vector<std::string>{"torch.ops.aten.t.default", "torch.ops.aten.clone.default",
                                               "torch.ops.aten._unsafe_view.default"}));
}

TEST(Json, RoundTripIsLossless) {
  auto gm = small_graph();
  gm->graph->nodes()[2]->meta.custom = {{"pp_stage", int64_t{0}}, {"tag", std::string("x")}};
  gm->graph->nodes()[2]->meta.seq_nr = 7;
  std::string text = to_json(*gm);
  auto back = from_json(text);
  EXPECT_EQ(to_json(*back), text);
  EXPECT_EQ(print_readable(*back), print_readable(*gm));
  EXPECT_EQ(back->graph->nodes()[2]->meta, gm->graph->nodes()[2]->meta);
}

TEST(Json, MalformedFilesAreClearErrors) {
  std::string text = to_json(*small_graph());
  EXPECT_NE(error_of([&] { from_json(text.substr(0, text.size() / 2)); }).find("not valid JSON"), std::string::npos);
  std::string dangling = text;
  size_t pos = dangling.find("\"node\": \"mul\"");
  ASSERT_NE(pos, std::string::npos);
  dangling.replace(pos, 13, "\"node\": \"nope\"");
  EXPECT_NE(error_of([&] { from_json(dangling); }).find("refers to node 'nope'"), std::string::npos);
  std::string bad_op = text;
  pos = bad_op.find("aten::mul.Tensor");
  ASSERT_NE(pos, std::string::npos);
  bad_op.replace(pos, 16, "os::system.default");
  EXPECT_NE(error_of([&] { from_json(bad_op); }).find("unknown op 'os::system.default'"), std::string::npos);
  EXPECT_NE(error_of([] {
              from_json("{\"format\": \"aotgrad-graph\", \"version\": 99, \"module\": {}}");
            }).find("format version 99 is not supported"),
            std::string::npos);
}

TEST(Verify, CatchesBrokenInvariants) {
  GraphModule gm;
  Node* x = gm.graph->placeholder("x");
  Node* y = gm.graph->placeholder("y");
  Node* out = gm.graph->output({Arg(x), Arg(y)});
  x->meta.desc = Descriptor::plain_input(0);
  y->meta.desc = Descriptor::plain_input(0);
  out->meta.out_descs = {Descriptor::plain_output(0), Descriptor::grad(Descriptor::plain_input(5))};
  EXPECT_NE(error_of([&] { verify(gm); }).find("placeholders share the descriptor PlainAOTInput(idx=0)"),
            std::string::npos);
  y->meta.desc = Descriptor::plain_input(1);
  EXPECT_NE(error_of([&] { verify(gm); }).find("no input is PlainAOTInput(idx=5)"), std::string::npos);
  out->meta.out_descs[1] = Descriptor::grad(Descriptor::plain_input(1));
  EXPECT_NO_THROW(verify(gm));
}

TEST(Interpreter, WrongInputCountIsAnError) {
  EXPECT_NE(error_of([] { interpret(*small_graph(), {}); }).find("takes 2 inputs, but got 0"), std::string::npos);
}
