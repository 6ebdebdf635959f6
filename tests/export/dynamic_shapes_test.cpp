// Symbolic shapes end to end (issue 20, docs/SYMBOLIC_SHAPES.md): one export with
// dynamic dims, one compiled function, checked against eager at other sizes; the
// printed graph, its guards and its JSON round trip; and the errors a size that
// breaks a guard, a dim the model fixes and a bad mark give.
#include <gtest/gtest.h>

#include "aotgrad/compile.h"
#include "aotgrad/export.h"
#include "aotgrad/graph.h"
#include "aotgrad/models.h"
#include "aotgrad/partition.h"
#include "aotgrad/pytree.h"
#include "aotgrad/trace.h"
#include "conformance/compiled_step.h"
#include "ops/sym_shape.h"
#include "test_util.h"

using namespace aotgrad;
using aotgrad::testing::error_of;

namespace {
exporting::JointWithDescriptors export_dynamic(models::Instance& inst, std::vector<exporting::DynamicDim> dims,
                                               bool stack_traces = true) {
  exporting::ExportOptions o;
  o.dynamic = std::move(dims);
  o.record_stack_traces = stack_traces;
  return exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs, o);
}

// The dims of every input that `dims` names, resized to `size`, checked against eager.
void expect_matches_eager_at(const models::ModelInfo& info, const compile::CompiledFunction& f,
                             const models::Example& example, const std::vector<exporting::DynamicDim>& dims,
                             int64_t size) {
  const models::Example at = conformance::resized_example(example, dims, size, static_cast<uint64_t>(size));
  const conformance::StepComparison c = conformance::compare_compiled_step_at(info, f, at);
  ASSERT_FALSE(c.diffs.empty());
  for (const auto& d : c.diffs) EXPECT_TRUE(d.ok) << info.name << " at " << size << ": " << d.what;
  EXPECT_TRUE(c.passed) << c.problem;
}

const std::vector<exporting::DynamicDim> kBatchOfTwoInputs = {{0, 0}, {1, 0}};
}  // namespace

TEST(DynamicShapes, OneExportServesEveryBatchSizeOfEveryBenchmarkModel) {
  for (const char* name : {"mlp_small", "convnet", "digits_cnn"}) {
    const models::ModelInfo info = models::find_model(name);
    models::Instance inst = models::instantiate(info);
    std::vector<exporting::DynamicDim> dims = kBatchOfTwoInputs;
    if (info.kind == models::Kind::Digits) dims = {{0, 0}};
    const int64_t traces = trace::traces_started();
    auto joint = export_dynamic(inst, dims);
    compile::CompiledFunction f = compile::aot_compile_joint_with_descriptors(joint);
    for (int64_t b : {1, 3, 64, 257}) expect_matches_eager_at(info, f, inst.example, dims, b);
    EXPECT_EQ(trace::traces_started() - traces, 1) << name << ": the sizes must not trace again";
    EXPECT_GE(f.num_sizes_compiled(), 4) << name;
  }
}

// The golden cases' models whose batch can vary (the others fix it: a hard-coded
// expand, a constant index tensor, an opaque custom op or region; each says so).
TEST(DynamicShapes, GoldenModelsWithAFreeBatchServeEveryBatchSize) {
  for (const char* name :
       {"simple_linear", "annotated_square", "multi_output", "two_linear_sub", "mlp_relu_ce", "ops_elementwise",
        "conv_bn", "batchnorm_eval", "layernorm_gelu", "attention_causal", "conv_variants", "embedding_bag",
        "annotated_linear", "annotated_function", "inplace_input"}) {
    const models::ModelInfo info = models::find_model(name);
    models::Instance inst = models::instantiate(info);
    std::vector<exporting::DynamicDim> dims;
    const auto leaves = pytree::flatten(pytree::Value::tuple({pytree::Value::tuple(inst.example.args),
                                                              pytree::Value::dict(inst.example.kwargs)}))
                            .first;
    for (size_t i = 0; i < leaves.size(); ++i)
      if (leaves[i].to_tensor().dim() > 0) dims.push_back({static_cast<int64_t>(i), 0});
    compile::CompiledFunction f = compile::aot_compile_joint_with_descriptors(export_dynamic(inst, dims));
    for (int64_t b : {1, 3, 17}) expect_matches_eager_at(info, f, inst.example, dims, b);
  }
  const std::string e = error_of([] {
    models::Instance inst = models::instantiate(models::find_model("index_put_unpermute"));
    export_dynamic(inst, {{0, 0}});
  });
  EXPECT_NE(e.find("fixed at 4 by aten::index_put"), std::string::npos) << "a constant index tensor: " << e;
}

TEST(DynamicShapes, TransformerBlockServesBatchesAndSequenceLengths) {
  const models::ModelInfo info = models::find_model("transformer_block");
  models::Instance inst = models::instantiate(info);
  auto joint = export_dynamic(inst, {{0, 0}, {1, 0}, {0, 1}, {1, 1}});
  compile::CompiledFunction f = compile::aot_compile_joint_with_descriptors(joint);
  for (int64_t seq : {17, 64}) {
    const models::Example ex = conformance::resized_example(inst.example, {{0, 1}, {1, 1}}, seq, 7);
    expect_matches_eager_at(info, f, ex, kBatchOfTwoInputs, 3);
  }
}

// The min cut is chosen once, on the symbolic joint, and serves every size.
TEST(DynamicShapes, OneMinCutPartitionServesEverySize) {
  const models::ModelInfo info = models::find_model("transformer_block");
  models::Instance inst = models::instantiate(info);
  compile::CompileOptions options;
  options.partition.policy = partition::Policy::MinCut;
  auto joint = export_dynamic(inst, {{0, 0}, {1, 0}, {0, 1}, {1, 1}});
  compile::CompiledFunction f = compile::aot_compile_joint_with_descriptors(joint, options);
  for (int64_t seq : {17, 64}) {
    const models::Example ex = conformance::resized_example(inst.example, {{0, 1}, {1, 1}}, seq, 7);
    for (int64_t b : {1, 5}) expect_matches_eager_at(info, f, ex, kBatchOfTwoInputs, b);
  }
}

// Each half of a symbolic partition binds the symbols from its own inputs: the
// printed halves read them with sym_size (no unbound s0), and bind_symbols finds them.
TEST(DynamicShapes, PartitionedHalvesBindTheirSymbolsFromTheirOwnInputs) {
  models::Instance inst = models::instantiate(models::find_model("transformer_block"));
  auto gm = export_dynamic(inst, {{0, 0}, {1, 0}, {0, 1}, {1, 1}}).graph_module;
  for (auto policy : {partition::Policy::SaveAll, partition::Policy::MinCut}) {
    partition::PartitionOptions options;
    options.policy = policy;
    const partition::Partition p = partition::partition_joint(*gm, options);
    for (const graph::GraphModule* half : {p.forward.get(), p.backward.get()}) {
      const std::string text = graph::print_readable(*half, graph::PrintFormat::Compact);
      ASSERT_EQ(half->symbols.size(), 2u) << text;
      EXPECT_NE(text.find("= torch.ops.aten.sym_size.int("), std::string::npos) << text;
      EXPECT_EQ(text.find(", [s0, s1"), std::string::npos) << "an unbound symbol in an argument: " << text;
      std::vector<Shape> sizes;  // every input at the example's sizes
      for (const graph::Node* ph : half->graph->placeholders()) sizes.push_back(ph->meta.val.as_tensor().sizes);
      EXPECT_EQ(graph::bind_symbols(*half, sizes), graph::hint_bindings(*gm));
    }
    EXPECT_EQ(p.forward->guards.size(), gm->guards.size()) << "the forward checks the joint's guards";
  }
}

TEST(DynamicShapes, TransformerGraphPrintsItsSymbolsAndGuardsAndSurvivesJson) {
  models::Instance inst = models::instantiate(models::find_model("transformer_block"));
  auto gm = export_dynamic(inst, {{0, 0}, {1, 0}, {0, 1}, {1, 1}}).graph_module;
  ASSERT_EQ(gm->symbols.size(), 2u) << "x's and target's batch and sequence are found equal";
  const std::string text = graph::print_readable(*gm, graph::PrintFormat::Compact);
  EXPECT_NE(text.find("\"f32[s0, s1, 128]\""), std::string::npos) << text;
  EXPECT_NE(text.find("# Guards: s1 <= 64"), std::string::npos) << "the causal mask is 64 long: " << text;
  EXPECT_NE(text.find("torch.ops.aten.sym_size.int(primals_18, 1)"), std::string::npos) << text;
  EXPECT_NE(text.find("[sym_size_int, sym_size_int_1, 4, 32]"), std::string::npos) << "the heads' view: " << text;
  auto back = graph::from_json(graph::to_json(*gm));
  EXPECT_EQ(graph::print_readable(*back), graph::print_readable(*gm));
  EXPECT_EQ(back->guards.size(), gm->guards.size());
}

TEST(DynamicShapes, ASizeThatBreaksAGuardIsAClearError) {
  const models::ModelInfo info = models::find_model("transformer_block");
  models::Instance inst = models::instantiate(info);
  auto joint = export_dynamic(inst, {{0, 0}, {1, 0}, {0, 1}, {1, 1}});
  compile::CompiledFunction f = compile::aot_compile_joint_with_descriptors(joint);
  const models::Example too_long = conformance::resized_example(inst.example, {{0, 1}, {1, 1}}, 65, 1);
  const std::string e = error_of([&] { f.call_module(*inst.module, too_long.args); });
  EXPECT_NE(e.find("s1 <= 64"), std::string::npos) << e;
  EXPECT_NE(e.find("s1 = 65"), std::string::npos) << e;
  // Inputs whose sizes disagree on a symbol: x at batch 3, target at batch 5.
  models::Example mixed = conformance::resized_example(inst.example, {{0, 0}}, 3, 1);
  mixed = conformance::resized_example(mixed, {{1, 0}}, 5, 2);
  const std::string m = error_of([&] { f.call_module(*inst.module, mixed.args); });
  EXPECT_NE(m.find("primals_19"), std::string::npos) << m;
  EXPECT_NE(m.find("s0 = 3"), std::string::npos) << m;
}

TEST(DynamicShapes, ADimTheModelFixesNamesTheOpThatFixedIt) {
  models::Instance inst = models::instantiate(models::find_model("mlp_small"));
  const std::string e = error_of([&] { export_dynamic(inst, {{0, 1}}); });
  EXPECT_NE(e.find("dim 1 of input 'primals_7"), std::string::npos) << e;
  EXPECT_NE(e.find("fixed at 64"), std::string::npos) << e;
  EXPECT_NE(e.find("aten::addmm"), std::string::npos) << "the Linear's matrix product fixed it: " << e;
  EXPECT_NE(e.find("benchmark_models.cpp"), std::string::npos) << "where the model called it: " << e;
}

TEST(DynamicShapes, MarksOnMissingOrSizeOneDimsAreClearErrors) {
  models::Instance inst = models::instantiate(models::find_model("mlp_small"));
  EXPECT_NE(error_of([&] { export_dynamic(inst, {{0, 5}}); }).find("has no dim 5"), std::string::npos);
  EXPECT_NE(error_of([&] { export_dynamic(inst, {{7, 0}}); }).find("names user input 7"), std::string::npos);
  models::Instance one = models::instantiate(models::find_model("mlp_small"));
  one.example = conformance::resized_example(one.example, kBatchOfTwoInputs, 1, 1);
  EXPECT_NE(error_of([&] { export_dynamic(one, kBatchOfTwoInputs); }).find("at least 2"), std::string::npos);
}

TEST(DynamicShapes, SpecializeGivesTheGraphAnExportAtThatSizeWouldGive) {
  models::Instance inst = models::instantiate(models::find_model("mlp_small"));
  // (No stack traces: their comments show the process-wide sequence numbers.)
  auto gm = export_dynamic(inst, kBatchOfTwoInputs, false).graph_module;
  auto fixed = graph::specialize(*gm, {{0, 5}});
  EXPECT_TRUE(fixed->symbols.empty());
  models::Instance at5 = models::instantiate(models::find_model("mlp_small"));
  at5.example = conformance::resized_example(at5.example, kBatchOfTwoInputs, 5, 1);
  exporting::ExportOptions o;
  o.record_stack_traces = false;
  auto direct = exporting::aot_export_joint_with_descriptors(*at5.module, at5.example.args, {}, o).graph_module;
  EXPECT_EQ(graph::print_readable(*fixed), graph::print_readable(*direct));
}

TEST(ShapeEnv, UnifiesSymbolsPinsConstantsAndKeepsOnlyGuardsThatCanFail) {
  ops::ShapeEnv env;
  const SymExpr a = env.new_symbol(8), b = env.new_symbol(8), c = env.new_symbol(5);
  env.expect_eq(a, b, "two batches");
  EXPECT_EQ(env.canonical(b), a) << "s1 is s0 from now on";
  env.expect(a * 1024, SymGuard::Rel::Gt, SymExpr(1), "more than one value");
  EXPECT_TRUE(env.guards().size() == 1 && env.guards()[0].rel == SymGuard::Rel::Eq) << "s0*1024 > 1 always holds";
  env.expect(c, SymGuard::Rel::Le, SymExpr(64), "a slice within 64");
  EXPECT_EQ(env.guards().back().str(), "s2 <= 64");
  env.expect_eq(c * 2, SymExpr(10), "a fixed size");
  ASSERT_EQ(env.pins().size(), 1u);
  EXPECT_EQ(env.pins()[0].symbol, 2);
  EXPECT_EQ(env.canonical(c), SymExpr(5));
  EXPECT_NE(error_of([&] { env.expect_eq(a, SymExpr(9), "wrong"); }).find("must be equal"), std::string::npos);
}
