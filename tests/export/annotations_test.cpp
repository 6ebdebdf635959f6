// Annotations, sequence numbers, gradient accumulation and stack traces on the joint graph.
#include <gtest/gtest.h>

#include "aotgrad/annotate.h"
#include "aotgrad/export.h"
#include "aotgrad/models.h"
#include "aotgrad/ops.h"
#include "ops/registry.h"

using namespace aotgrad;

namespace {
exporting::JointWithDescriptors export_model(const std::string& name, bool traces = true) {
  models::Instance inst = models::instantiate(models::find_model(name));
  exporting::ExportOptions o;
  o.record_stack_traces = traces;
  return exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs, o);
}

const graph::Node* node(const exporting::JointWithDescriptors& j, const std::string& name) {
  const graph::Node* n = j.graph_module->graph->find(name);
  EXPECT_NE(n, nullptr) << name;
  return n;
}
}  // namespace

TEST(Annotate, ScopesNestAndInnerKeysWin) {
  EXPECT_TRUE(current_annotations().empty());
  {
    annotate outer({{"pp_stage", 0}, {"region", 1}});
    {
      annotate inner(Annotations{{"pp_stage", int64_t{2}}, {"name", std::string("attn")}});
      EXPECT_EQ(graph::annotations_str(current_annotations()), "{'pp_stage': 2, 'region': 1, 'name': 'attn'}");
    }
    EXPECT_EQ(graph::annotations_str(current_annotations()), "{'pp_stage': 0, 'region': 1}");
  }
  EXPECT_TRUE(current_annotations().empty());
  auto f = annotate_fn({{"flag", true}}, [] { return graph::annotations_str(current_annotations()); });
  EXPECT_EQ(f(), "{'flag': True}");
}

TEST(Annotate, AnnotatedLinearListsEightNodes) {
  auto lines = exporting::get_custom_metadata(*export_model("annotated_linear").graph_module);
  std::vector<std::string> want;
  for (const char* n : {"t", "addmm", "t_1", "mm", "t_2", "sum_1", "view", "t_3"})
    want.push_back(std::string("('call_function', '") + n + "', {'pp_stage': 0})");
  EXPECT_EQ(lines, want);
}

TEST(Annotate, AnnotatedFunctionCarriesBothStagesIntoTheBackward) {
  auto lines = exporting::get_custom_metadata(*export_model("annotated_function").graph_module);
  std::vector<std::string> want;
  for (const char* n : {"t", "addmm"}) want.push_back(std::string("('call_function', '") + n + "', {'pp_stage': 0})");
  for (const char* n : {"mul", "mul_1", "mul_2"})
    want.push_back(std::string("('call_function', '") + n + "', {'pp_stage': 1})");
  for (const char* n : {"t_1", "mm", "t_2", "sum_1", "view", "t_3"})
    want.push_back(std::string("('call_function', '") + n + "', {'pp_stage': 0})");
  EXPECT_EQ(lines, want);
}

TEST(Annotate, GradientAccumulationIsMarkedAndUnannotated) {
  auto j = export_model("two_linear_sub");
  EXPECT_EQ(exporting::get_custom_metadata(*j.graph_module).size(), 22u);
  int adds = 0;
  for (const auto& n : j.graph_module->graph->nodes()) {
    if (n->op() != graph::NodeOp::CallFunction || n->target().kind != graph::Target::Kind::Op) continue;
    if (n->target().op->qualified_name() != "aten::add.Tensor") continue;
    ++adds;
    EXPECT_TRUE(n->meta.is_gradient_acc);
    EXPECT_TRUE(n->meta.custom.empty());
  }
  EXPECT_EQ(adds, 1);
}

TEST(SeqNr, BackwardNodesShareTheirForwardOpsNumber) {
  auto j = export_model("simple_linear");
  // addmm's backward (mm, t_2 for the weight; sum_1, view for the bias) shares its seq_nr.
  const auto seq = node(j, "addmm")->meta.seq_nr;
  ASSERT_TRUE(seq.has_value());
  for (const char* n : {"t_1", "mm", "t_2", "sum_1", "view"}) EXPECT_EQ(node(j, n)->meta.seq_nr, seq) << n;
  EXPECT_EQ(node(j, "t_3")->meta.seq_nr, node(j, "t")->meta.seq_nr);
  EXPECT_FALSE(node(j, "addmm")->meta.is_backward);
  EXPECT_TRUE(node(j, "mm")->meta.is_backward);
  auto groups = exporting::get_ordered_seq_nr_groups(*j.graph_module);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0], (std::vector<std::string>{"t", "t_3"}));
  EXPECT_EQ(groups[1], (std::vector<std::string>{"addmm", "mm", "sum_1", "t_1", "t_2", "view"}));
}

TEST(SeqNr, UnpermuteSliceAndItsBackwardShareOne) {
  auto j = export_model("unpermute");
  EXPECT_EQ(node(j, "slice_1")->meta.seq_nr, node(j, "slice_backward")->meta.seq_nr);
}

TEST(StackTrace, PointsAtTheModelLineNeverAtTheLibrary) {
  auto j = export_model("index_put_unpermute");
  const StackTrace& frames = node(j, "slice_1")->meta.stack_trace;
  ASSERT_NE(frames.innermost(), nullptr);
  EXPECT_TRUE(frames.verbatim.empty());  // symbolized frames, not text
  EXPECT_NE(frames.innermost()->file.find("src/models/golden_models.cpp"), std::string::npos);
  EXPECT_EQ(frames.innermost()->code, "Tensor out = slice(out_unpermuted, 0, 0, -1);");
  const std::string trace = frames.text();
  EXPECT_NE(trace.find("src/models/golden_models.cpp"), std::string::npos) << trace;
  EXPECT_NE(trace.find("slice(out_unpermuted, 0, 0, -1)"), std::string::npos) << trace;
  EXPECT_EQ(trace.find("/src/ops/"), std::string::npos) << trace;
  EXPECT_EQ(trace.find("/src/autograd/"), std::string::npos) << trace;
  // The backward node carries the forward line.
  EXPECT_EQ(node(j, "slice_backward")->meta.stack_trace, frames);
  std::string compact = graph::print_readable(*j.graph_module, graph::PrintFormat::Compact);
  EXPECT_NE(compact.find("code: Tensor out = slice(out_unpermuted, 0, 0, -1);"), std::string::npos) << compact;
}

TEST(StackTrace, CanBeTurnedOff) {
  auto j = export_model("simple_linear", false);
  for (const auto& n : j.graph_module->graph->nodes()) EXPECT_TRUE(n->meta.stack_trace.empty()) << n->name();
}

// Note: the text form is FX's, formatted in one place and parsed back losslessly.
TEST(StackTrace, TextRoundTripsThroughFramesAndKeepsWhatIsNotAFrame) {
  const std::string fx = "  File \"/m/model.cpp\", line 42, in forward\n    y = linear(x)\n";
  StackTrace t = StackTrace::parse(fx);
  ASSERT_EQ(t.frames.size(), 1u);
  EXPECT_EQ(t.frames[0], (StackFrame{"/m/model.cpp", 42, "forward", "y = linear(x)"}));
  EXPECT_TRUE(t.verbatim.empty());
  EXPECT_EQ(t.text(), fx);
  // Python's own traces carry marker lines: the frames are read, the text kept as is.
  const std::string python = "  File \"m.py\", line 7, in forward\n    return x @ w\n           ~~^~~\n";
  StackTrace p = StackTrace::parse(python);
  ASSERT_EQ(p.frames.size(), 1u);
  EXPECT_EQ(p.innermost()->function, "forward");
  EXPECT_EQ(p.innermost()->code, "return x @ w");
  EXPECT_EQ(p.text(), python);
  // A provenance, not a stack: no frames, the text as given.
  StackTrace onnx = StackTrace::parse("ONNX node: conv1");
  EXPECT_TRUE(onnx.frames.empty());
  EXPECT_EQ(onnx.text(), "ONNX node: conv1");
  EXPECT_EQ(onnx.first_verbatim_line(), "ONNX node: conv1");
  for (const char* bad : {"  File \"x\", line 1e9, in f\n    c\n", "  File \"x\", line 3, in f", "\n\n"})
    EXPECT_EQ(StackTrace::parse(bad).text(), bad);
}
