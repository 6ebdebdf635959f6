// Batch shares (Note [Batch shares], compile/batch_shares.cpp): a graph whose output
// rows depend only on the same rows of its batch inputs runs as one program per
// thread on its share of the batch and gives what the function gives eagerly; a graph
// that mixes rows is never split, and the reason names the node that mixes them.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "aotgrad/autograd.h"
#include "aotgrad/compile.h"
#include "aotgrad/models.h"
#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "aotgrad/trace.h"
#include "compile/batch_shares.h"
#include "support/parallel.h"

namespace aotgrad {
namespace {

using Fn = std::function<TensorList(const TensorList&)>;

Tensor conv(const Tensor& x, const Tensor& w, const Tensor& b) {
  return convolution(x, w, b, {1, 1}, {1, 1}, {1, 1}, false, {0, 0}, 1);
}

void expect_close(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  const std::vector<float> g = got.to_vector<float>(), w = want.to_vector<float>();
  for (size_t k = 0; k < g.size(); ++k)
    ASSERT_NEAR(g[k], w[k], 1e-5 + 1e-5 * std::abs(w[k])) << what << " element " << k;
}

// The graph split into `threads` shares against the function run eagerly.
void expect_shares_match(const Fn& fn, const TensorList& inputs, int threads, int64_t want_shares) {
  auto gm = trace::make_fx(fn, inputs);
  auto found = compile::find_batch_rows(*gm);
  ASSERT_TRUE(std::holds_alternative<compile::BatchRows>(found)) << std::get<std::string>(found);
  compile::BatchShares shares(*gm, std::get<compile::BatchRows>(found), threads, {});
  EXPECT_EQ(shares.shares(), want_shares);
  const std::vector<Tensor> got = shares.run(std::vector<Tensor>(inputs.begin(), inputs.end()));
  const TensorList want = fn(inputs);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) expect_close(got[i], want[i], "output " + std::to_string(i));
}

std::string why_not(const Fn& fn, const TensorList& inputs) {
  auto found = compile::find_batch_rows(*trace::make_fx(fn, inputs));
  return std::holds_alternative<std::string>(found) ? std::get<std::string>(found) : std::string("(split)");
}

// A squeezenet fire module and its classifier: convolutions with ReLU, a max pool (both
// of its outputs), a concatenation of channels, a flatten, a product and a softmax.
TensorList fire(const TensorList& in) {
  const Tensor s = relu(conv(in[0], in[1], in[2]));
  const Tensor e1 = relu(convolution(s, in[3], in[4], {1, 1}, {0, 0}, {1, 1}, false, {0, 0}, 1));
  const Tensor e3 = relu(conv(s, in[5], in[6]));
  auto [pooled, indices] = max_pool2d_with_indices(cat({e1, e3}, 1), {3, 3}, {2, 2});
  const Tensor flat = view(pooled, {pooled.size(0), -1});
  return {softmax(addmm(in[8], flat, t(in[7])), 1), indices};
}

TensorList fire_inputs(int64_t batch) {
  return {randn({batch, 4, 7, 7}), randn({3, 4, 3, 3}), randn({3}),       randn({6, 3, 1, 1}), randn({6}),
          randn({6, 3, 3, 3}),     randn({6}),          randn({10, 108}), randn({10})};
}

TEST(BatchShares, AFireModuleRunsInSharesAsItDoesWhole) {
  expect_shares_match(fire, fire_inputs(5), 2, 2);  // shares of 3 and 2 rows
  expect_shares_match(fire, fire_inputs(4), 3, 3);  // 2, 1 and 1: a share of one row
  expect_shares_match(fire, fire_inputs(2), 4, 2);  // never more shares than rows
}

TEST(BatchShares, LayerNormOverTrailingDimsKeepsTheRows) {
  const TensorList in = {randn({5, 3, 8}), randn({8}), randn({8})};
  expect_shares_match(
      [](const TensorList& x) { return TensorList{std::get<0>(native_layer_norm(x[0], {8}, x[1], x[2], 1e-5))}; }, in,
      2, 2);
  const Fn all = [](const TensorList& x) {
    return TensorList{std::get<0>(native_layer_norm(x[0], {5, 3, 8}, Tensor(), Tensor(), 1e-5))};
  };
  EXPECT_NE(why_not(all, in).find("native_layer_norm"), std::string::npos) << why_not(all, in);
}

// shufflenet's channel shuffle: a view that keeps the batch (written with its size, as
// exports write it), a transpose of other dims, a mean over the maps.
TEST(BatchShares, AChannelShuffleKeepsTheRowsApart) {
  const Fn fn = [](const TensorList& in) {
    const Tensor x = view(in[0], {6, 2, 3, 4, 4});
    const Tensor shuffled = view(clone(transpose(x, 1, 2)), {6, 6, 4, 4});
    return TensorList{mean(mul(shuffled, in[1]), {2, 3}), shuffled};
  };
  expect_shares_match(fn, {randn({6, 6, 4, 4}), randn({1, 6, 1, 1})}, 2, 2);
}

TEST(BatchShares, BatchNormWithRunningStatisticsSplitsAndWithBatchStatisticsDoesNot) {
  const TensorList in = {randn({4, 3, 5, 5}), randn({3}), randn({3}), randn({3}), add(rand({3}), 0.5)};
  const Fn eval = [](const TensorList& x) {
    return TensorList{std::get<0>(_native_batch_norm_legit_no_training(x[0], x[1], x[2], x[3], x[4], 0.1, 1e-5))};
  };
  expect_shares_match(eval, in, 2, 2);
  const Fn train = [](const TensorList& x) {
    return TensorList{std::get<0>(_native_batch_norm_legit_functional(x[0], x[1], x[2], x[3], x[4], true, 0.1, 1e-5))};
  };
  EXPECT_NE(why_not(train, in).find("_native_batch_norm_legit_functional"), std::string::npos) << why_not(train, in);
}

TEST(BatchShares, OpsThatMixRowsStopTheSplitAndAreNamed) {
  const TensorList x = {randn({4, 6})};
  const auto why = [&](const Fn& fn) { return why_not(fn, x); };
  EXPECT_NE(why([](const TensorList& in) { return TensorList{softmax(in[0], 0)}; }).find("_softmax"),
            std::string::npos);
  EXPECT_NE(why([](const TensorList& in) { return TensorList{sub(in[0], mean(in[0], {0}, true))}; }).find("mean"),
            std::string::npos);
  EXPECT_NE(why([](const TensorList& in) { return TensorList{view(in[0], {8, 3})}; }).find("view"), std::string::npos);
  EXPECT_NE(why([](const TensorList& in) { return TensorList{mm(t(in[0]), in[0])}; }).find("'t'"), std::string::npos);
  EXPECT_NE(why([](const TensorList& in) {
              return TensorList{cat({in[0], in[0]}, 0)};
            }).find("cat"),
            std::string::npos);
  EXPECT_NE(why([](const TensorList& in) { return TensorList{mean(in[0])}; }).find("mean"), std::string::npos);
  // A new leading dim the batch's size: the rows move to dim 1, and a sum over dim 1 mixes them.
  EXPECT_NE(why([](const TensorList& in) {
              return TensorList{sum(expand(in[0], {4, 4, 6}), {1})};
            }).find("expand"),
            std::string::npos);
  // A tensor of the batch's size that is not an input's rows: a constant.
  const Tensor c = randn({4, 6});
  EXPECT_NE(why([&](const TensorList& in) { return TensorList{add(in[0], c)}; }).find("pairs rows"), std::string::npos);
  EXPECT_EQ(why_not([](const TensorList& in) { return TensorList{relu(in[0])}; }, {randn({1, 6})}),
            "the batch has one row");
  // Rows that are columns in memory (a transposed input): a share would be no dense block.
  EXPECT_NE(why_not([](const TensorList& in) { return TensorList{relu(in[0])}; }, {t(randn({6, 4}))})
                .find("does not hold its rows apart in memory"),
            std::string::npos);
}

// Through a compiled function: an inference call at 2 threads runs two programs and
// returns what the model gives eagerly; at 1 thread, with the option off, when the
// call records a backward, or for a forward too small to pay, one program runs.
compile::CompiledFunction compiled_frozen(models::Instance& inst, const compile::CompileOptions& options = {}) {
  for (auto& [name, slot] : inst.module->parameter_slots()) slot->set_requires_grad(false);
  return compile::aot_compile_joint_with_descriptors(
      exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args), options);
}

TEST(BatchShares, ACompiledInferenceCallRunsOneProgramPerThread) {
  models::Instance inst = models::instantiate(models::find_model("digits_mlp"));
  compile::CompileOptions off;
  off.batch_shares = false;
  const compile::CompiledFunction fn = compiled_frozen(inst), whole = compiled_frozen(inst, off);
  EXPECT_EQ(fn.why_no_batch_shares(), "") << fn.signature();
  EXPECT_EQ(whole.why_no_batch_shares(), "batch shares are turned off");
  autograd::NoGradGuard no_grad;
  const int before = num_threads();
  const Tensor want = (*inst.module)(inst.example.args).leaf().to_tensor();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    const Tensor got = fn.call_module(*inst.module, inst.example.args).leaf().to_tensor();
    EXPECT_EQ(fn.last_batch_shares(), threads);
    expect_close(got, want, "digits_mlp at " + std::to_string(threads) + " threads");
    whole.call_module(*inst.module, inst.example.args);
    EXPECT_EQ(whole.last_batch_shares(), 1);
  }
  // Trainable parameters: a call under no_grad runs in shares (the values the forward
  // saves for a backward are not made), one that records a backward does not.
  models::Instance trainable = models::instantiate(models::find_model("digits_mlp"));
  const compile::CompiledFunction step = compile::aot_compile_joint_with_descriptors(
      exporting::aot_export_joint_with_descriptors(*trainable.module, trainable.example.args));
  set_num_threads(2);
  expect_close(step.call_module(*trainable.module, trainable.example.args).leaf().to_tensor(),
               (*trainable.module)(trainable.example.args).leaf().to_tensor(), "digits_mlp, trainable, no_grad");
  EXPECT_EQ(step.last_batch_shares(), 2);
  {
    autograd::EnableGradGuard grad;
    step.call_module(*trainable.module, trainable.example.args);
    EXPECT_EQ(step.last_batch_shares(), 1);
  }
  models::Instance tiny = models::instantiate(models::find_model("conv_variants"));
  const compile::CompiledFunction small = compiled_frozen(tiny);
  EXPECT_NE(small.why_no_batch_shares().find("too little work"), std::string::npos) << small.why_no_batch_shares();
  small.call_module(*tiny.module, tiny.example.args);
  EXPECT_EQ(small.last_batch_shares(), 1);
  set_num_threads(before);
}

}  // namespace
}  // namespace aotgrad
