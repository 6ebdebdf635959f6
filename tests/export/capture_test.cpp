// Custom ops and export from a captured forward graph.
#include <gtest/gtest.h>

#include "aotgrad/autograd.h"
#include "aotgrad/custom_op.h"
#include "aotgrad/error.h"
#include "aotgrad/export.h"
#include "aotgrad/models.h"
#include "aotgrad/ops.h"
#include "test_util.h"

using namespace aotgrad;

namespace {
exporting::JointWithDescriptors live(const std::string& name) {
  models::Instance inst = models::instantiate(models::find_model(name));
  return exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs);
}

exporting::JointWithDescriptors from_capture(const std::string& name) {
  models::Instance inst = models::instantiate(models::find_model(name));
  auto captured = exporting::capture_forward(*inst.module, inst.example.args, inst.example.kwargs);
  auto loaded = graph::from_json(graph::to_json(*captured));  // savable and loadable
  return exporting::aot_export_joint_with_descriptors(*loaded, inst.example.args, inst.example.kwargs);
}
}  // namespace

TEST(CustomOp, RunsEagerlyWithItsBackward) {
  models::Instance inst = models::instantiate(models::find_model("custom_op"));  // registers my_lib::foo
  Tensor x = Tensor::from_vector<float>({1, 2}, {2}), y = Tensor::from_vector<float>({10, 20}, {2});
  x.set_requires_grad();
  y.set_requires_grad();
  Tensor z = call_custom_op("my_lib::foo", {x, y})[0];
  EXPECT_EQ(z.to_vector<float>(), (std::vector<float>{11, 22}));
  TensorList g = autograd::grad({z}, {x, y}, {Tensor::from_vector<float>({1, 3}, {2})});
  EXPECT_EQ(g[0].to_vector<float>(), (std::vector<float>{1, 3}));
  EXPECT_EQ(g[1].to_vector<float>(), (std::vector<float>{1, 3}));
}

TEST(CustomOp, IsOneNodeWithTheCallersStackTrace) {
  auto j = live("custom_op");
  const graph::Node* foo = j.graph_module->graph->find("foo");
  ASSERT_NE(foo, nullptr);
  EXPECT_EQ(foo->target().qualified(), "torch.ops.my_lib.foo.default");
  const std::string trace = foo->meta.stack_trace.text();
  EXPECT_NE(trace.find("src/models/demo_models.cpp"), std::string::npos) << trace;
  EXPECT_NE(trace.find("call_custom_op(\"my_lib::foo\", {in[0], in[1]})"), std::string::npos);
  EXPECT_EQ(trace.find("src/ops/"), std::string::npos) << trace;
}

TEST(CustomOp, BadDefinitionsAreClearErrors) {
  CustomOpDef def;
  def.name = "nonamespace";
  try {
    register_custom_op(def);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("must look like 'my_lib::foo'"), std::string::npos);
  }
  def.name = "my_lib::bar";
  def.signature = "(Tensor x) -> Tensor";
  try {
    register_custom_op(def);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a CPU implementation is required"), std::string::npos);
  }
}

TEST(Capture, ExportFromACapturedGraphEqualsTheLiveExport) {
  for (const char* name : {"simple_linear", "module_with_kwargs", "conv_bn", "annotated_function", "two_linear_sub",
                           "custom_op", "unpermute", "transformer_block", "invoke_subgraph", "flex_attention"}) {
    SCOPED_TRACE(name);
    auto a = live(name), b = from_capture(name);
    // The same nodes with the same source line (the innermost frame: the callers of
    // the two exports differ), compared apart from the printed comments, which also
    // show seq_nr, a process-wide counter (its groups are compared below).
    // Blank lines separate stack-trace groups, which move with the build's inlining
    // (a Debug build splits groups a Release build keeps together): dropped too.
    auto text = [](const graph::GraphModule& gm) {
      std::string out;
      for (char c : aotgrad::testing::normalize_gm(graph::print_readable(gm, graph::PrintFormat::Compact)))
        if (c != '\n' || out.empty() || out.back() != '\n') out += c;
      return out;
    };
    EXPECT_EQ(text(*b.graph_module), text(*a.graph_module));
    for (const auto& n : a.graph_module->graph->nodes()) {
      const graph::Node* m = b.graph_module->graph->find(n->name());
      if (m == nullptr) continue;
      EXPECT_EQ(m->meta.stack_trace.innermost() ? *m->meta.stack_trace.innermost() : StackFrame{},
                n->meta.stack_trace.innermost() ? *n->meta.stack_trace.innermost() : StackFrame{})
          << n->name();
    }
    EXPECT_EQ(exporting::get_custom_metadata(*b.graph_module), exporting::get_custom_metadata(*a.graph_module));
    EXPECT_EQ(exporting::get_ordered_seq_nr_groups(*b.graph_module),
              exporting::get_ordered_seq_nr_groups(*a.graph_module));
    EXPECT_EQ(b.params_spec, a.params_spec);
    EXPECT_EQ(b.buffers_spec, a.buffers_spec);
    EXPECT_EQ(b.in_spec, a.in_spec);
    EXPECT_EQ(b.out_spec, a.out_spec);
  }
}

TEST(Capture, ForwardGraphLiftsParametersAndBuffersByName) {
  models::Instance inst = models::instantiate(models::find_model("conv_bn"));
  auto gm = exporting::capture_forward(*inst.module, inst.example.args);
  std::vector<std::string> names;
  for (const graph::Node* p : gm->graph->placeholders()) names.push_back(p->meta.desc->str());
  EXPECT_EQ(names[0], "ParamAOTInput(target='conv.weight')");
  EXPECT_EQ(names[4], "BufferAOTInput(target='bn.running_mean')");
  EXPECT_EQ(names[7], "PlainAOTInput(idx=0)");
  EXPECT_EQ(gm->graph->output_node()->meta.out_descs.size(), 4u);  // 3 buffer updates, 1 output
}
