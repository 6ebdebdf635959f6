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
