// The compile pipeline (Note [A pipeline as data]) and its graph passes.
#include <gtest/gtest.h>

#include "aotgrad/compile.h"
#include "aotgrad/models.h"
#include "aotgrad/partition.h"
#include "compile/pipeline.h"
#include "ops/registry.h"
#include "test_util.h"

using namespace aotgrad;
using aotgrad::testing::error_of;

namespace {
exporting::JointWithDescriptors export_model(const std::string& name) {
  models::Instance inst = models::instantiate(models::find_model(name));
  return exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs);
}
}  // namespace

TEST(Pipeline, ThePassesAreListedOnceInOrder) {
  std::vector<std::string> names;
  for (const auto& p : compile::compile_passes()) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"verify", "partition", "cse", "dce", "lower", "fuse", "plan"}));
}

TEST(Pipeline, PrintsAfterEveryPassAndVerifies) {
  std::vector<std::string> printed;
  compile::CompileOptions o;
  o.pipeline.print_after = "all";
  o.pipeline.verify_after_each = true;
  o.pipeline.emit = [&](const std::string& text) { printed.push_back(text.substr(0, text.find('\n'))); };
  compile::run_compile_passes(export_model("mlp_small"), o);
  EXPECT_EQ(printed, (std::vector<std::string>{
                         "=== after pass 'verify' ===", "=== after pass 'partition' ===", "=== after pass 'cse' ===",
                         "=== after pass 'dce' ===", "=== after pass 'lower' ===", "=== after pass 'fuse' ===",
                         "=== after pass 'plan' ==="}));
}

TEST(Pipeline, StopsAfterTheNamedPassAndRejectsUnknownOnes) {
  int printed = 0;
  compile::CompileOptions o;
  o.pipeline.print_after = "all";
  o.pipeline.stop_after = "partition";
  o.pipeline.emit = [&](const std::string&) { ++printed; };
  compile::run_compile_passes(export_model("mlp_small"), o);
  EXPECT_EQ(printed, 2);
  o.pipeline.stop_after = "frobnicate";
  EXPECT_NE(error_of([&] {
              compile::run_compile_passes(export_model("mlp_small"), o);
            }).find("unknown pass 'frobnicate' (the passes: verify, partition, cse, dce, lower, fuse, plan)"),
            std::string::npos);
}

TEST(Pipeline, DeadCodeGoesButInPlaceWritesStay) {
  graph::GraphModule gm;
  graph::Graph& g = *gm.graph;
  graph::Node* x = g.placeholder("x");
  graph::Node* dead = g.call_function(ops::op_info(ops::OpId::neg), {graph::Arg(x)});
  g.call_function(ops::op_info(ops::OpId::exp), {graph::Arg(dead)});  // dead, and makes `dead` dead
  graph::Node* live = g.call_function(ops::op_info(ops::OpId::relu), {graph::Arg(x)});
  g.call_function(ops::op_info(ops::OpId::copy_), {graph::Arg(x), graph::Arg(live)});  // an effect: kept
  g.output({graph::Arg(live)});
  EXPECT_EQ(graph::eliminate_dead_code(gm), 2);
  std::vector<std::string> left;
  for (const auto& n : g.nodes()) left.push_back(n->name());
  EXPECT_EQ(left, (std::vector<std::string>{"x", "relu", "copy_", "output"}));
}

TEST(Pipeline, CommonSubexpressionsMergeOnlyPureIdenticalCalls) {
  graph::GraphModule gm;
  graph::Graph& g = *gm.graph;
  graph::Node* x = g.placeholder("x");
  const auto& mul = ops::op_info(ops::OpId::mul_Scalar);
  graph::Node* a = g.call_function(mul, {graph::Arg(x), graph::Arg(2.0)});
  graph::Node* b = g.call_function(mul, {graph::Arg(x), graph::Arg(2.0)});   // same as a
  graph::Node* c = g.call_function(mul, {graph::Arg(x), graph::Arg(-2.0)});  // another constant
  graph::Node* d = g.call_function(mul, {graph::Arg(x), graph::Arg(2.0)});
  d->meta.custom = {{"pp_stage", AnnotationValue(int64_t{1})}};  // another annotation: kept apart
  g.output({graph::Arg(a), graph::Arg(b), graph::Arg(c), graph::Arg(d)});
  EXPECT_EQ(compile::eliminate_common_subexpressions(gm), 1);
  const auto& outs = g.output_node()->args()[0].list();
  EXPECT_EQ(outs[1].node(), a);
  EXPECT_EQ(outs[2].node(), c);
  EXPECT_EQ(outs[3].node(), d);
}

// Note [Lowering at a size]: a symbolic half lowered at one size is the program of the
// half specialised to that size (graph::specialize, itself the graph an export at that
// size gives), without the copy.
TEST(Pipeline, LoweringAtASizeGivesTheProgramOfTheSpecialisedGraph) {
  models::Instance inst = models::instantiate(models::find_model("transformer_block"));
  exporting::ExportOptions eo;
  eo.dynamic = {{0, 0}, {1, 0}, {0, 1}, {1, 1}};  // batch s0, sequence s1
  const auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, {}, eo);
  const partition::Partition p = partition::partition_joint(*joint.graph_module);
  const std::map<int64_t, int64_t> at = {{0, 3}, {1, 17}};
  const compile::CompileOptions o;
  for (const auto& half : {p.forward, p.backward}) {
    compile::ProgramDraft draft(half, o, compile::LowerAt{at, {}});
    draft.lower();
    draft.fuse();
    draft.plan();
    const std::string lowered = draft.program().print();
    EXPECT_EQ(lowered, compile::Program::build(*graph::specialize(*half, at), o)->print());
    EXPECT_NE(lowered.find("[3, 17, 128]"), std::string::npos) << lowered;
  }
  compile::ProgramDraft unbound(p.forward, o);
  EXPECT_NE(error_of([&] { unbound.lower(); }).find("s0"), std::string::npos) << "a symbol without a value";
  // A recorded size expression the shape rules disagree with at this size (the
  // example's sizes still agree: s0 + 1 is 5 only where s0 is 4).
  auto edited = graph::clone_module(*p.forward);
  for (auto& n : edited->graph->nodes()) {
    if (n->op() != graph::NodeOp::CallFunction || n->target().kind != graph::Target::Kind::Op ||
        n->meta.val.kind != graph::FakeVal::Kind::Tensor)
      continue;
    auto& t = *n->meta.val.items[0];
    if (t.sym_sizes.empty() || t.sym_sizes[0] != SymExpr::symbol(0)) continue;
    t.sym_sizes[0] = SymExpr::symbol(0) + SymExpr(1);
    break;
  }
  compile::ProgramDraft stale(edited, o, compile::LowerAt{at, {}});
  const std::string e = error_of([&] { stale.lower(); });
  EXPECT_NE(e.find("[s0 + 1, "), std::string::npos) << e;
  EXPECT_NE(e.find("[4, "), std::string::npos) << "the recorded size evaluated here: " << e;
}
