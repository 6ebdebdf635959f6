#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "aotgrad/error.h"
#include "aotgrad/export.h"
#include "aotgrad/models.h"
#include "aotgrad/ops.h"
#include "ops/registry.h"
#include "test_util.h"

using namespace aotgrad;
using aotgrad::testing::error_of;
using aotgrad::testing::read_file;
using exporting::JointWithDescriptors;

namespace {
JointWithDescriptors export_model(const std::string& name, const exporting::ExportOptions& o = {}) {
  models::Instance inst = models::instantiate(models::find_model(name));
  return exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs, o);
}

std::vector<std::string> descs(const std::vector<std::optional<Descriptor>>& ds) {
  std::vector<std::string> out;
  for (const auto& d : ds) out.push_back(d ? d->str() : "None");
  return out;
}
}  // namespace

TEST(JointExport, SimpleLinearPrintsExactlyAsSpec) {
  JointWithDescriptors j = export_model("simple_linear");
  // SPEC's listing, as upstream compares listings: without the stack-trace comments.
  const std::string text = graph::print_readable(*j.graph_module);
  EXPECT_EQ(aotgrad::testing::normalize_gm(text), read_file(AOTGRAD_TEST_DATA "/simple_linear_joint.txt"));
  EXPECT_NE(text.find("        # Annotation: "), std::string::npos) << text;
  EXPECT_NE(text.find("'seq_nr': "), std::string::npos) << text;
  EXPECT_EQ(j.static_input_indices, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(j.params_spec, (std::vector<std::string>{"linear.weight", "linear.bias"}));
}

TEST(JointExport, KwargsComeAfterArgsAndTheSpecSaysSo) {
  JointWithDescriptors j = export_model("module_with_kwargs");
  auto ph = j.graph_module->graph->placeholders();
  EXPECT_EQ(ph[3]->meta.desc->str(), "PlainAOTInput(idx=1)");
  EXPECT_EQ(j.in_spec.str(), "TreeSpec(tuple, None, [TreeSpec(tuple, None, [*]), TreeSpec(dict, ['scale'], [*])])");
}

TEST(JointExport, MultiOutputDescriptors) {
  JointWithDescriptors j = export_model("multi_output");
  std::vector<std::string> in;
  for (auto* p : j.graph_module->graph->placeholders()) in.push_back(p->meta.desc->str());
  EXPECT_EQ(in,
            (std::vector<std::string>{"ParamAOTInput(target='linear1.weight')", "ParamAOTInput(target='linear1.bias')",
                                      "ParamAOTInput(target='linear2.weight')", "ParamAOTInput(target='linear2.bias')",
                                      "PlainAOTInput(idx=0)", "TangentAOTInput(output=PlainAOTOutput(idx=0))",
                                      "TangentAOTInput(output=PlainAOTOutput(idx=1))"}));
  EXPECT_EQ(descs(exporting::output_descriptors(*j.graph_module)),
            (std::vector<std::string>{"PlainAOTOutput(idx=0)", "PlainAOTOutput(idx=1)",
                                      "GradAOTOutput(grad_of=ParamAOTInput(target='linear1.weight'))",
                                      "GradAOTOutput(grad_of=ParamAOTInput(target='linear1.bias'))",
                                      "GradAOTOutput(grad_of=ParamAOTInput(target='linear2.weight'))",
                                      "GradAOTOutput(grad_of=ParamAOTInput(target='linear2.bias'))", "None"}));
}

TEST(FxUtils, SimpleLinearCounts) {
  JointWithDescriptors j = export_model("simple_linear");
  const auto& gm = *j.graph_module;
  auto inputs = exporting::get_all_input_and_grad_nodes(gm);
  ASSERT_EQ(inputs.size(), 4u);
  EXPECT_NE(inputs[0].grad, nullptr);
  EXPECT_NE(inputs[1].grad, nullptr);
  EXPECT_EQ(inputs[2].grad, nullptr);  // the plain input does not require grad
  EXPECT_EQ(inputs[3].grad, nullptr);  // the tangent
  EXPECT_EQ(exporting::get_all_output_and_tangent_nodes(gm).size(), 3u);
  auto plain = exporting::get_plain_output_and_tangent_nodes(gm);
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_EQ(plain[0].tangent->name(), "tangents_1");
  EXPECT_EQ(exporting::get_param_and_grad_nodes(gm).size(), 2u);
  EXPECT_EQ(exporting::get_named_param_nodes(gm)[1].first, "linear.bias");
}

TEST(FxUtils, MultiOutputCounts) {
  JointWithDescriptors j = export_model("multi_output");
  const auto& gm = *j.graph_module;
  EXPECT_EQ(exporting::get_all_output_and_tangent_nodes(gm).size(), 6u);
  auto plain = exporting::get_plain_output_and_tangent_nodes(gm);
  ASSERT_EQ(plain.size(), 2u);
  EXPECT_NE(plain[0].tangent, nullptr);
  EXPECT_NE(plain[1].tangent, nullptr);
  auto params = exporting::get_param_and_grad_nodes(gm);
  ASSERT_EQ(params.size(), 4u);
  for (const auto& p : params) EXPECT_NE(p.grad, nullptr);
}

TEST(FxUtils, GraphsWithoutDescriptorsAreRejected) {
  auto gm = trace::make_fx([](const TensorList& in) { return TensorList{neg(in[0])}; }, {ones({2})});
  EXPECT_NE(error_of([&] { exporting::get_all_input_and_grad_nodes(*gm); }).find("has no descriptors"),
            std::string::npos);
}

TEST(JointExport, BatchNormBufferUpdatesBecomeMutationOutputs) {
  JointWithDescriptors j = export_model("conv_bn");
  auto d = descs(exporting::output_descriptors(*j.graph_module));
  EXPECT_EQ(d[0], "InputMutationAOTOutput(mutated_input=BufferAOTInput(target='bn.running_mean'))");
  EXPECT_EQ(d[1], "InputMutationAOTOutput(mutated_input=BufferAOTInput(target='bn.running_var'))");
  EXPECT_EQ(d[2], "InputMutationAOTOutput(mutated_input=BufferAOTInput(target='bn.num_batches_tracked'))");
  EXPECT_EQ(d[3], "PlainAOTOutput(idx=0)");
  EXPECT_EQ(j.metadata.num_mutated_inputs, 3);
  for (const auto& n : j.graph_module->graph->nodes()) {
    if (n->op() == graph::NodeOp::CallFunction && n->target().kind == graph::Target::Kind::Op) {
      EXPECT_NE(n->target().op->kind, ops::OpKind::InPlace) << n->name() << " is in place";
    }
  }
}

namespace {
// The namespaces and ATen ops a decomposed graph uses (getitem excluded).
std::set<std::string> aten_ops_in(const graph::GraphModule& gm) {
  std::set<std::string> out;
  for (const auto& n : gm.graph->nodes())
    if (n->op() == graph::NodeOp::CallFunction && n->target().kind == graph::Target::Kind::Op &&
        n->target().op->schema.ns == "aten")
      out.insert(n->target().op->schema.name);
  return out;
}
}  // namespace

TEST(JointExport, DecomposedMultiOutputUsesPrimsAndMm) {
  exporting::ExportOptions o;
  o.decompositions = trace::DecompositionTable::core();
  JointWithDescriptors j = export_model("multi_output", o);
  // as_strided: a view stays a view (upstream's table keeps it, SPEC.md §7).
  EXPECT_EQ(aten_ops_in(*j.graph_module), (std::set<std::string>{"as_strided", "mm"}));
  EXPECT_EQ(descs(exporting::output_descriptors(*j.graph_module)).size(), 7u);
}

TEST(JointExport, DecomposedConvBnKeepsOnlyConvolutions) {
  exporting::ExportOptions o;
  o.decompositions = trace::DecompositionTable::core();
  JointWithDescriptors j = export_model("conv_bn", o);
  EXPECT_EQ(aten_ops_in(*j.graph_module), (std::set<std::string>{"convolution", "convolution_backward"}));
  EXPECT_EQ(j.metadata.num_mutated_inputs, 3);
}

TEST(JointExport, JsonRoundTripPrintsTheSameForEveryModel) {
  for (const auto& m : models::all_models()) {
    JointWithDescriptors j = export_model(m.name);
    JointWithDescriptors back = exporting::joint_from_json(exporting::joint_to_json(j));
    EXPECT_EQ(graph::print_readable(*back.graph_module), graph::print_readable(*j.graph_module)) << m.name;
    EXPECT_EQ(back.in_spec, j.in_spec) << m.name;
    EXPECT_EQ(back.params_spec, j.params_spec) << m.name;
  }
}

TEST(JointExport, BadInputsAreClearErrors) {
  models::Instance inst = models::instantiate(models::find_model("simple_linear"));
  EXPECT_NE(
      error_of([&] {
        exporting::aot_export_joint_with_descriptors(*inst.module, {zeros({4, 5})});
      }).find("Linear(in_features=3, out_features=2): expected an input whose last dimension is 3, got f32[4, 5]"),
      std::string::npos);
  EXPECT_NE(error_of([&] {
              exporting::aot_export_joint_with_descriptors(*inst.module, {});
            }).find("expected 1 positional argument(s) (x), got 0"),
            std::string::npos);
  std::string e = error_of([&] { exporting::aot_export_joint_with_descriptors(*inst.module, {IValue(int64_t{3})}); });
  EXPECT_NE(e.find("user input 0"), std::string::npos) << e;
  EXPECT_NE(e.find("while exporting module 'SimpleLinear'"), std::string::npos) << e;
  // The module is left as it was: its parameters are real tensors again.
  EXPECT_FALSE(inst.module->named_parameters()[0].second.is_meta());
}

TEST(Functionalization, MutatedUserInputBecomesAnOutput) {
  JointWithDescriptors j = export_model("inplace_input");
  auto d = descs(exporting::output_descriptors(*j.graph_module));
  EXPECT_EQ(d[0], "InputMutationAOTOutput(mutated_input=PlainAOTInput(idx=0))");
  EXPECT_EQ(d[1], "PlainAOTOutput(idx=0)");
  EXPECT_EQ(j.metadata.input_mutated, (std::vector<bool>{true}));
}

TEST(Functionalization, KeepInputMutationsWritesBackInTheGraph) {
  exporting::ExportOptions o;
  o.keep_input_mutations = true;
  JointWithDescriptors j = export_model("inplace_input", o);
  auto d = descs(exporting::output_descriptors(*j.graph_module));
  EXPECT_EQ(d[0], "PlainAOTOutput(idx=0)");
  const graph::Node* last = j.graph_module->graph->nodes()[j.graph_module->graph->size() - 2].get();
  EXPECT_EQ(last->target().qualified(), "torch.ops.aten.copy_.default");
  EXPECT_EQ(last->args()[0].node()->name(), "primals_1");
  // The interpreter writes the new value into the caller's tensor.
  Tensor x = ones({3, 4});
  std::vector<IValue> out = graph::interpret(*j.graph_module, {x});
  EXPECT_EQ(x.to_vector<float>()[0], 2.0f);
  EXPECT_EQ(out[0].to_tensor().to_vector<float>()[0], 4.0f);
}

TEST(Functionalization, WriteThroughIndexingHasOneSliceAndItsBackward) {
  JointWithDescriptors j = export_model("unpermute");
  int slices = 0, slice_backwards = 0;
  for (const auto& n : j.graph_module->graph->nodes()) {
    if (n->op() != graph::NodeOp::CallFunction || n->target().kind != graph::Target::Kind::Op) continue;
    slices += n->target().op->schema.name == "slice";
    slice_backwards += n->target().op->schema.name == "slice_backward";
  }
  EXPECT_EQ(slices, 1);
  EXPECT_EQ(slice_backwards, 1);
}

TEST(Functionalization, AliasedInputsThatAreWrittenAreRejected) {
  // Two user inputs viewing one storage, the first written in place.
  struct WritesFirst : nn::Module {
    WritesFirst() : Module("WritesFirst") {}
    pytree::Value forward(const nn::Args& a, const nn::Kwargs&) override {
      add_(a[0].tensor(), 1);
      return a[0].tensor() + a[1].tensor();
    }
  } m;
  Tensor base = zeros({2, 3});
  std::string e = error_of([&] {
    exporting::aot_export_joint_with_descriptors(m, {select(base, 0, 0), select(base, 0, 1)});
  });
  EXPECT_NE(e.find("PlainAOTInput(idx=0) is written in place, but it shares storage with PlainAOTInput(idx=1)"),
            std::string::npos)
      << e;
}

TEST(JointExport, NonTensorOutputIsAnError) {
  struct ReturnsInt : nn::Module {
    ReturnsInt() : Module("ReturnsInt") {}
    pytree::Value forward(const nn::Args&, const nn::Kwargs&) override { return pytree::Value(IValue(int64_t{3})); }
  } m;
  std::string e = error_of([&] { exporting::aot_export_joint_with_descriptors(m, {zeros({2})}); });
  EXPECT_NE(e.find("output 0 of the module is int, but every output leaf must be a tensor"), std::string::npos) << e;
}

TEST(Functionalization, InPlaceOnAParameterNamesTheInput) {
  struct ScalesWeight : nn::Module {
    ScalesWeight() : Module("ScalesWeight") {
      w = ones({3});
      register_parameter("w", w);
    }
    pytree::Value forward(const nn::Args& a, const nn::Kwargs&) override {
      mul_(w, scalar_tensor(2.0));
      return a[0].tensor() * w;
    }
    Tensor w;
  } m;
  std::string e = error_of([&] { exporting::aot_export_joint_with_descriptors(m, {ones({3})}); });
  EXPECT_NE(e.find("aten::mul_.Tensor: a leaf tensor that requires grad (f32[3], primals_1, "
                   "ParamAOTInput(target='w')) is being used in an in-place operation"),
            std::string::npos)
      << e;
}
