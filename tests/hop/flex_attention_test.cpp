// flex_attention: block masks, kernels against explicitly written attention, finite
// differences, the traced graph and its execution.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

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
MaskMod causal() {
  return [](const Tensor&, const Tensor&, const Tensor& q, const Tensor& kv) { return ge(q, kv); };
}

// A mask that depends on batch and head: head h of batch b sees keys within a window
// of 8 * (b + h + 1) before the query, causally.
MaskMod sliding_window() {
  return [](const Tensor& b, const Tensor& h, const Tensor& q, const Tensor& kv) {
    Tensor width = (b + h + 1) * 8;
    return logical_and(ge(q, kv), lt(q - kv, width));
  };
}

// A relative-position bias scaled per head: exercises score_mod's derivative path.
Tensor relative_bias(const Tensor& score, const Tensor&, const Tensor& h, const Tensor& q, const Tensor& kv) {
  return score + to(q - kv, DType::Float32) * 0.05 * to(h + 1, DType::Float32) * -1.0;
}
Tensor relative_bias64(const Tensor& score, const Tensor&, const Tensor& h, const Tensor& q, const Tensor& kv) {
  return score * 0.5 + to(q - kv, DType::Float64) * 0.05 * to(h + 1, DType::Float64) * -1.0;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  EXPECT_EQ(x.size(), y.size());
  double m = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

TensorList leaves(const Shape& q, const Shape& kv, DType dtype, uint64_t seed) {
  Generator g(seed);
  TensorList t{randn(q, dtype, &g), randn(kv, dtype, &g), randn(kv, dtype, &g)};
  for (Tensor& x : t) x.set_requires_grad(true);
  return t;
}

// flex_attention and the explicit attention on the same inputs: outputs and the
// gradients of <out, g> with respect to q, k and v agree within `tol`.
void expect_matches_explicit(const Shape& q_shape, const Shape& kv_shape, const ScoreMod& score_mod,
                             const MaskMod& mask_mod, int64_t Bm, int64_t Hm, int64_t block, double tol) {
  TensorList a = leaves(q_shape, kv_shape, DType::Float32, 3);
  TensorList b;
  for (const Tensor& x : a) b.push_back(x.detach().set_requires_grad(true));
  BlockMask mask = create_block_mask(mask_mod, Bm, Hm, q_shape[2], kv_shape[2], block);
  Tensor flex = flex_attention(a[0], a[1], a[2], score_mod, mask);
  Tensor dense = explicit_masked_attention(b[0], b[1], b[2], score_mod, mask_mod);
  // Rows with nothing to attend to are NaN in the softmax of the explicit form; the
  // masks used here leave every query at least itself.
  EXPECT_LT(max_abs_diff(flex, dense), tol) << "output";
  Generator g(11);
  Tensor gout = randn(flex.sizes(), DType::Float32, &g);
  TensorList ga = autograd::grad({flex}, a, {gout});
  TensorList gb = autograd::grad({dense}, b, {gout});
  const char* names[] = {"q", "k", "v"};
  for (int i = 0; i < 3; ++i) EXPECT_LT(max_abs_diff(ga[i], gb[i]), tol) << "gradient of " << names[i];
}
}  // namespace

TEST(BlockMask, SortsBlocksIntoFullPartialAndSkipped) {
  // Causal over 256 positions in 128-blocks: query block 0 sees key block 0 in part;
  // query block 1 sees key block 0 whole and key block 1 in part.
  BlockMask m = create_block_mask(causal(), 1, 1, 256, 256, 128);
  EXPECT_EQ(m.kv_num_blocks.to_vector<int32_t>(), (std::vector<int32_t>{1, 1}));
  EXPECT_EQ(m.full_kv_num_blocks.to_vector<int32_t>(), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(m.kv_indices.to_vector<int32_t>()[0], 0);
  EXPECT_EQ(m.kv_indices.to_vector<int32_t>()[2], 1);
  EXPECT_EQ(m.full_kv_indices.to_vector<int32_t>()[2], 0);
  // The transposed tables: key block 0 is partial for query block 0, full for 1.
  EXPECT_EQ(m.q_num_blocks.to_vector<int32_t>(), (std::vector<int32_t>{1, 1}));
  EXPECT_EQ(m.full_q_num_blocks.to_vector<int32_t>(), (std::vector<int32_t>{1, 0}));
  EXPECT_DOUBLE_EQ(m.sparsity(), 0.25);
}

TEST(BlockMask, TwoDocumentsSkipTheBlocksBetweenThem) {
  // 1024 positions, two documents of 512: of the 8x8 block pairs, each document's
  // causal triangle keeps 4 * 5 / 2 = 10, so 20 of 64 are computed.
  BlockMask m = create_block_mask(models::flex_document_mask(1024, 2), 1, 1, 1024, 1024);
  EXPECT_DOUBLE_EQ(m.sparsity(), 1.0 - 20.0 / 64.0);
}

TEST(BlockMask, BadArgumentsAreClearErrors) {
  EXPECT_NE(aotgrad::testing::error_of([] { create_block_mask(nullptr, 1, 1, 8, 8); }).find("no mask_mod"),
            std::string::npos);
  EXPECT_NE(aotgrad::testing::error_of([] { create_block_mask(causal(), 1, 0, 8, 8); }).find("must be positive"),
            std::string::npos);
  std::string e = aotgrad::testing::error_of([] {
    create_block_mask([](const Tensor&, const Tensor&, const Tensor& q, const Tensor&) { return q * 1; }, 1, 1, 8, 8);
  });
  EXPECT_NE(e.find("must return a bool tensor"), std::string::npos) << e;
}

TEST(FlexAttention, TheModelEqualsExplicitMaskedAttention) {
  // The flex_attention model's configuration: document mask, identity score_mod.
  expect_matches_explicit({2, 4, 288, 64}, {2, 4, 288, 64}, nullptr, models::flex_document_mask(288, 2), 1, 1, 128,
                          1e-4);
}

TEST(FlexAttention, ScoreModAndPerHeadMasksEqualExplicitAttention) {
  // Lengths that are not multiples of the block, a mask that depends on b and h, and
  // a score_mod with a derivative of its own.
  expect_matches_explicit({2, 2, 100, 16}, {2, 2, 100, 16}, relative_bias, sliding_window(), 2, 2, 32, 1e-4);
}

TEST(FlexAttention, CrossAttentionWithDifferentValueWidth) {
  TensorList a = leaves({1, 2, 40, 8}, {1, 2, 72, 8}, DType::Float32, 5);
  Generator g(6);
  Tensor v = randn({1, 2, 72, 12}, DType::Float32, &g);
  MaskMod all = [](const Tensor&, const Tensor&, const Tensor& q, const Tensor& kv) { return ge(q + kv, 0); };
  BlockMask m = create_block_mask(all, 1, 1, 40, 72, 16);
  Tensor out = flex_attention(a[0], a[1], v, nullptr, m);
  EXPECT_EQ(out.sizes(), (Shape{1, 2, 40, 12}));
  EXPECT_LT(max_abs_diff(out, explicit_masked_attention(a[0], a[1], v, nullptr, all)), 1e-5);
}

TEST(FlexAttention, GradientsMatchFiniteDifferencesInFloat64) {
  TensorList x = leaves({1, 2, 20, 4}, {1, 2, 20, 4}, DType::Float64, 21);
  BlockMask m = create_block_mask(sliding_window(), 1, 2, 20, 20, 8);
  Generator g(22);
  Tensor gout = randn({1, 2, 20, 4}, DType::Float64, &g);
  auto contract = [&] {
    Tensor out = flex_attention(x[0], x[1], x[2], relative_bias64, m);
    std::vector<double> o = out.to_vector<double>(), w = gout.to_vector<double>();
    double s = 0;
    for (size_t i = 0; i < o.size(); ++i) s += o[i] * w[i];
    return s;
  };
  TensorList analytic = autograd::grad({flex_attention(x[0], x[1], x[2], relative_bias64, m)}, x, {gout});
  autograd::NoGradGuard no_grad;
  const double eps = 1e-6;
  for (int i = 0; i < 3; ++i) {
    double* p = x[static_cast<size_t>(i)].data_ptr<double>();
    std::vector<double> a = analytic[static_cast<size_t>(i)].to_vector<double>();
    for (int64_t e = 0; e < x[static_cast<size_t>(i)].numel(); ++e) {
      const double keep = p[e];
      p[e] = keep + eps;
      const double fp = contract();
      p[e] = keep - eps;
      const double fm = contract();
      p[e] = keep;
      EXPECT_NEAR(a[static_cast<size_t>(e)], (fp - fm) / (2 * eps), 1e-6) << "input " << i << " element " << e;
    }
  }
}

TEST(FlexAttention, BadInputsAreClearErrors) {
  TensorList x = leaves({1, 2, 16, 4}, {1, 2, 16, 4}, DType::Float32, 1);
  BlockMask m = create_block_mask(causal(), 1, 1, 32, 32, 16);
  std::string e = aotgrad::testing::error_of([&] { flex_attention(x[0], x[1], x[2], nullptr, m); });
  EXPECT_NE(e.find("block mask was made for 32 queries and 32 keys"), std::string::npos) << e;
  BlockMask ok = create_block_mask(causal(), 1, 1, 16, 16, 16);
  e = aotgrad::testing::error_of([&] { flex_attention(x[0], x[1], to(x[2], DType::Float64), nullptr, ok); });
  EXPECT_NE(e.find("must have one dtype"), std::string::npos) << e;
  e = aotgrad::testing::error_of([&] { flex_attention(view(x[0], {2, 16, 4}), x[1], x[2], nullptr, ok); });
  EXPECT_NE(e.find("query must be a float32 or float64 tensor [batch, heads, seq, dim]"), std::string::npos) << e;
  ScoreMod to_int = [](const Tensor& s, const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
    return to(s, DType::Int64);
  };
  e = aotgrad::testing::error_of([&] { flex_attention(x[0], x[1], x[2], to_int, ok); });
  EXPECT_NE(e.find("score_mod must return a tensor of the score's dtype"), std::string::npos) << e;
}

namespace {
exporting::JointWithDescriptors export_flex() {
  models::Instance inst = models::instantiate(models::find_model("flex_attention"));
  return exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs);
}
}  // namespace

TEST(FlexAttention, AnnotationsReachGetAttrsHigherOrderNodesAndSubgraphs) {
  std::vector<std::string> lines = exporting::get_custom_metadata(*export_flex().graph_module);
  const std::string a = "{'compile_with_inductor': 'flex_attention'}";
  for (const std::string& want :
       {"('get_attr', 'sdpa_score0', " + a + ")", "('get_attr', 'sdpa_mask0', " + a + ")",
        "('call_function', 'flex_attention', " + a + ")", "('get_attr', 'fw_graph0', " + a + ")",
        "('get_attr', 'joint_graph0', " + a + ")", "('get_attr', 'mask_graph0', " + a + ")",
        "('call_function', 'flex_attention_backward', " + a + ")"})
    EXPECT_NE(std::find(lines.begin(), lines.end(), want), lines.end()) << want;
  // The mask_mod's nodes inside sdpa_mask0 carry the annotation too.
  bool subgraph_line = false;
  for (const std::string& l : lines)
    subgraph_line = subgraph_line || (l.front() == '[' && l.find("('call_function', 'logical_and', " + a) != l.npos);
  EXPECT_TRUE(subgraph_line);
}

TEST(FlexAttention, TheJointGraphRunsInTheInterpreterAndSurvivesJson) {
  exporting::JointWithDescriptors joint = export_flex();
  auto loaded = graph::from_json(graph::to_json(*joint.graph_module));
  EXPECT_EQ(graph::print_readable(*loaded), graph::print_readable(*joint.graph_module));

  // Eager reference: the module's forward and the gradients for one tangent.
  models::Instance inst = models::instantiate(models::find_model("flex_attention"));
  TensorList in;
  for (const pytree::Value& v : inst.example.args) in.push_back(v.leaf().to_tensor());
  Tensor out = (*inst.module)(inst.example.args).leaf().to_tensor();
  Generator g(4);
  Tensor tangent = randn(out.sizes(), DType::Float32, &g);
  TensorList grads = autograd::grad({out}, in, {tangent});

  autograd::NoGradGuard no_grad;
  std::vector<IValue> args;
  for (const Tensor& t : in) args.emplace_back(t.detach());
  args.emplace_back(tangent);
  std::vector<IValue> got = graph::interpret(*loaded, args);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(max_abs_diff(got[0].to_tensor(), out), 0.0);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(max_abs_diff(got[static_cast<size_t>(i) + 1].to_tensor(), grads[i]), 0.0);
}

TEST(FlexAttention, TracingTwiceTheSameGraph) {
  // seq_nr (in the comments) is a process-wide counter; the rest must be identical.
  EXPECT_EQ(aotgrad::testing::normalize_gm(graph::print_readable(*export_flex().graph_module)),
            aotgrad::testing::normalize_gm(graph::print_readable(*export_flex().graph_module)));
}

TEST(FlexAttention, AMalformedHigherOrderNodeInAGraphFileIsAClearError) {
  const nlohmann::json good = nlohmann::json::parse(graph::to_json(*export_flex().graph_module));
  auto load = [](const nlohmann::json& j) {
    return aotgrad::testing::error_of([&] { graph::verify(*graph::from_json(j.dump())); });
  };
  EXPECT_EQ(load(good), "");
  nlohmann::json short_args = good, unknown = good;
  for (auto& n : short_args["module"]["nodes"])
    if (n["name"] == "flex_attention") n["args"].erase(5);  // the scale
  std::string e = load(short_args);
  EXPECT_NE(e.find("flex_attention 'flex_attention' must take 8 arguments"), std::string::npos) << e;
  for (auto& n : unknown["module"]["nodes"])
    if (n["name"] == "flex_attention") n["target"] = "torch.ops.higher_order.frobnicate";
  e = load(unknown);
  EXPECT_NE(e.find("unknown higher-order op 'frobnicate'"), std::string::npos) << e;
}
