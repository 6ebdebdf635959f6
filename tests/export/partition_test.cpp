// The default partition: forward then backward computes what the joint graph does.
#include <gtest/gtest.h>

#include "aotgrad/autograd.h"
#include "aotgrad/error.h"
#include "aotgrad/export.h"
#include "aotgrad/models.h"
#include "aotgrad/ops.h"
#include "aotgrad/partition.h"
#include "aotgrad/random.h"

using namespace aotgrad;

namespace {
// Random values for every placeholder of `gm` (integer inputs in [0, 4)).
std::vector<IValue> random_inputs(const graph::GraphModule& gm) {
  Generator g(7);
  std::vector<IValue> in;
  for (const graph::Node* p : gm.graph->placeholders()) {
    const graph::TensorVal& v = p->meta.val.as_tensor();
    if (is_floating(v.dtype))
      in.emplace_back(randn(v.sizes, v.dtype, &g));
    else
      in.emplace_back(randint(0, 4, v.sizes, v.dtype, &g));
  }
  return in;
}
}  // namespace

TEST(Partition, ForwardThenBackwardEqualsTheJointGraph) {
  for (const char* name : {"simple_linear", "mlp_relu_ce", "conv_bn", "layernorm_gelu", "attention_causal", "unpermute",
                           "two_linear_sub", "transformer_block", "convnet"}) {
    SCOPED_TRACE(name);
    models::Instance inst = models::instantiate(models::find_model(name));
    auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs);
    const graph::GraphModule& gm = *joint.graph_module;
    for (auto policy : {partition::Policy::SaveAll, partition::Policy::MinCut}) {
      SCOPED_TRACE(policy == partition::Policy::MinCut ? "min-cut" : "save-all");
      partition::Partition p = partition::partition_joint(gm, {policy, 1.0});
      std::vector<IValue> in = random_inputs(gm);
      autograd::NoGradGuard no_grad;
      std::vector<IValue> want = graph::interpret(gm, in);

      const size_t num_primals = static_cast<size_t>(joint.metadata.num_primals);
      std::vector<IValue> fw_in(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(num_primals));
      std::vector<IValue> fw = graph::interpret(*p.forward, fw_in);
      std::vector<IValue> bw_in(fw.begin() + p.num_forward_outputs, fw.end());
      bw_in.insert(bw_in.end(), in.begin() + static_cast<std::ptrdiff_t>(num_primals), in.end());
      std::vector<IValue> bw = graph::interpret(*p.backward, bw_in);

      ASSERT_EQ(static_cast<size_t>(p.num_forward_outputs) + bw.size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        const IValue& got = i < static_cast<size_t>(p.num_forward_outputs) ? fw[i] : bw[i - p.num_forward_outputs];
        ASSERT_EQ(got.is_none(), want[i].is_none()) << "output " << i;
        if (want[i].is_none()) continue;
        EXPECT_EQ(got.to_tensor().to_vector<double>(), want[i].to_tensor().to_vector<double>()) << "output " << i;
      }
      EXPECT_FALSE(p.saved.empty());
      if (policy == partition::Policy::MinCut) {
        partition::Partition all = partition::partition_joint(gm);
        EXPECT_LE(p.saved_activation_bytes(), all.saved_activation_bytes());
        // (Not the peak: recomputed values live in the backward, so it can be higher.)
      }
    }
  }
}

TEST(Partition, MinCutRecomputesCheapOpsAndSaysWhy) {
  models::Instance inst = models::instantiate(models::find_model("layernorm_gelu"));
  auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args);
  partition::Partition p = partition::partition_joint(*joint.graph_module, {partition::Policy::MinCut, 1.0});
  ASSERT_FALSE(p.recomputed.empty());
  for (const auto& r : p.recomputed) EXPECT_FALSE(r.reason.empty()) << r.name;
  // Every saved value made by the user's code names its source line.
  for (const auto& s : p.saved) {
    if (!s.is_primal) {
      EXPECT_NE(s.source.find(".cpp:"), std::string::npos) << s.name;
    }
  }
}

TEST(Partition, AMemoryBudgetOutsideZeroToOneIsAnError) {
  models::Instance inst = models::instantiate(models::find_model("simple_linear"));
  auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args);
  EXPECT_THROW(partition::partition_joint(*joint.graph_module, {partition::Policy::MinCut, 1.5}), Error);
}

TEST(Partition, SimpleLinearSavesTheInputAndTheTransposedWeight) {
  models::Instance inst = models::instantiate(models::find_model("simple_linear"));
  auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args);
  partition::Partition p = partition::partition_joint(*joint.graph_module);
  std::vector<std::string> names;
  for (const auto& s : p.saved) names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{"primals_3"}));  // x; t(W) is not needed by the grads
  EXPECT_EQ(p.saved_bytes(), 4 * 3 * 4);
}

// Note [Descriptors on the halves]: each half is described as the joint is, with the
// saved values as SavedForBackwardsAOTOutput / SavedForBackwardsAOTInput.
TEST(Partition, TheHalvesCarryDescriptors) {
  models::Instance inst = models::instantiate(models::find_model("conv_bn"));
  auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args);
  partition::Partition p = partition::partition_joint(*joint.graph_module);
  auto str = [](const std::optional<Descriptor>& d) { return d ? d->str() : std::string("None"); };

  const auto joint_phs = joint.graph_module->graph->placeholders();
  const auto fw_phs = p.forward->graph->placeholders();
  ASSERT_EQ(fw_phs.size(), static_cast<size_t>(joint.metadata.num_primals));
  for (size_t i = 0; i < fw_phs.size(); ++i) EXPECT_EQ(str(fw_phs[i]->meta.desc), str(joint_phs[i]->meta.desc));

  const auto& joint_out = joint.graph_module->graph->output_node()->meta.out_descs;
  const auto& fw_out = p.forward->graph->output_node()->meta.out_descs;
  ASSERT_EQ(fw_out.size(), static_cast<size_t>(p.num_forward_outputs) + p.saved.size());
  for (size_t i = 0; i < static_cast<size_t>(p.num_forward_outputs); ++i) EXPECT_EQ(str(fw_out[i]), str(joint_out[i]));
  for (size_t k = 0; k < p.saved.size(); ++k)
    EXPECT_EQ(str(fw_out[static_cast<size_t>(p.num_forward_outputs) + k]),
              "SavedForBackwardsAOTOutput(idx=" + std::to_string(k) + ")");

  const auto bw_phs = p.backward->graph->placeholders();
  ASSERT_EQ(bw_phs.size(), p.saved.size() + static_cast<size_t>(joint.metadata.num_tangents));
  for (size_t k = 0; k < p.saved.size(); ++k)
    EXPECT_EQ(str(bw_phs[k]->meta.desc), "SavedForBackwardsAOTInput(idx=" + std::to_string(k) + ")");
  EXPECT_EQ(str(bw_phs[p.saved.size()]->meta.desc), "TangentAOTInput(output=PlainAOTOutput(idx=0))");

  const auto& bw_out = p.backward->graph->output_node()->meta.out_descs;
  std::vector<std::string> grads;
  for (const auto& d : bw_out) grads.push_back(str(d));
  std::vector<std::string> want;
  for (size_t i = static_cast<size_t>(p.num_forward_outputs); i < joint_out.size(); ++i)
    want.push_back(str(joint_out[i]));
  EXPECT_EQ(grads, want);
  EXPECT_EQ(grads.front(), "GradAOTOutput(grad_of=ParamAOTInput(target='conv.weight'))");

  // The descriptors survive the file format, and the backward half verifies on its own.
  EXPECT_EQ(str(Descriptor::parse("SavedForBackwardsAOTInput(idx=3)")), "SavedForBackwardsAOTInput(idx=3)");
  EXPECT_NO_THROW(graph::verify(*p.backward));
}

// Only a graph shaped as a backward half (saved values and tangents in, gradients
// out) may name inputs it does not have; any other graph is checked as a joint is.
TEST(Partition, TheForwardHalfStillChecksItsGradientReferences) {
  models::Instance inst = models::instantiate(models::find_model("simple_linear"));
  auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args);
  partition::Partition p = partition::partition_joint(*joint.graph_module);
  // The forward half returns a plain output: its gradients-of-inputs rule still holds.
  graph::Node* out = p.forward->graph->output_node();
  out->meta.out_descs[0] = Descriptor::grad(Descriptor::param("no_such.weight"));
  try {
    graph::verify(*p.forward);
    FAIL() << "verify accepted a gradient of an input the graph does not have";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no input is ParamAOTInput(target='no_such.weight')"), std::string::npos)
        << e.what();
  }
}
