#include <gtest/gtest.h>

#include <cmath>

#include "aotgrad/autograd.h"
#include "aotgrad/error.h"
#include "aotgrad/models.h"
#include "aotgrad/nn.h"
#include "aotgrad/ops.h"
#include "aotgrad/optim.h"
#include "aotgrad/random.h"
#include "test_util.h"

using namespace aotgrad;
using aotgrad::testing::error_of;

namespace {
std::vector<std::string> names(const nn::NamedTensors& ts) {
  std::vector<std::string> out;
  for (const auto& [n, t] : ts) out.push_back(n);
  return out;
}

}  // namespace

TEST(Module, NamesFollowRegistrationOrderDepthFirst) {
  auto inst = models::instantiate(models::find_model("conv_bn"));
  EXPECT_EQ(names(inst.module->named_parameters()),
            (std::vector<std::string>{"conv.weight", "conv.bias", "bn.weight", "bn.bias"}));
  EXPECT_EQ(names(inst.module->named_buffers()),
            (std::vector<std::string>{"bn.running_mean", "bn.running_var", "bn.num_batches_tracked"}));
  // state_dict interleaves each module's parameters and buffers, like PyTorch.
  EXPECT_EQ(names(inst.module->state_dict()),
            (std::vector<std::string>{"conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean",
                                      "bn.running_var", "bn.num_batches_tracked"}));
}

TEST(Module, SequentialNamesChildrenByIndex) {
  nn::Sequential seq(
      {std::make_shared<nn::Linear>(2, 3), std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(3, 1, false)});
  EXPECT_EQ(names(seq.named_parameters()), (std::vector<std::string>{"0.weight", "0.bias", "2.weight"}));
}

TEST(Module, LoadStateDictCopiesValuesAndRejectsMismatches) {
  nn::Linear a(3, 2), b(3, 2);
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(b.weight.to_vector<float>(), a.weight.to_vector<float>());
  EXPECT_TRUE(b.weight.requires_grad());
  EXPECT_NE(error_of([&] {
              b.load_state_dict({{"weight", zeros({3, 3})}}, false);
            }).find("'weight' expects f32[2, 3], got f32[3, 3]"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              b.load_state_dict({{"wieght", zeros({2, 3})}}, false);
            }).find("unexpected key 'wieght'"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              b.load_state_dict({{"weight", zeros({2, 3})}});
            }).find("missing key 'bias'"),
            std::string::npos);
}

TEST(Module, WrongInputsNameTheLayerAndWhatItExpected) {
  nn::Linear lin(3, 2);
  EXPECT_NE(error_of([&] {
              lin(zeros({4, 5}));
            })
                .find("Linear(in_features=3, out_features=2): expected an input whose last dimension "
                      "is 3, got f32[4, 5]"),
            std::string::npos);
  auto inst = models::instantiate(models::find_model("simple_linear"));
  EXPECT_NE(error_of([&] {
              (*inst.module)({zeros({4, 3}), zeros({4, 3})});
            }).find("SimpleLinear.forward: expected 1 positional argument(s) (x), got 2"),
            std::string::npos);
  EXPECT_NE(error_of([&] { models::find_model("resnet"); }).find("unknown model 'resnet'"), std::string::npos);
}

TEST(BatchNorm2d, TrainModeUpdatesRunningStatsWithUnbiasedVariance) {
  nn::BatchNorm2d bn(2, 1e-5, 0.1);
  manual_seed(3);
  Tensor x = randn({4, 2, 3, 3}, DType::Float64);
  bn.load_state_dict({{"weight", ones({2})}, {"bias", zeros({2})}}, /*strict=*/false);
  bn(to(x, DType::Float32));
  std::vector<double> v = x.to_vector<double>();
  for (int c = 0; c < 2; ++c) {
    double s = 0, ss = 0;
    int n = 0;
    for (int b = 0; b < 4; ++b)
      for (int i = 0; i < 9; ++i) {
        double e = v[(b * 2 + c) * 9 + i];
        s += e;
        ss += e * e;
        ++n;
      }
    double mean = s / n, unbiased = (ss - n * mean * mean) / (n - 1);
    EXPECT_NEAR(bn.running_mean.to_vector<double>()[c], 0.1 * mean, 1e-6);
    EXPECT_NEAR(bn.running_var.to_vector<double>()[c], 0.9 + 0.1 * unbiased, 1e-5);
  }
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);
  bn.eval();
  Tensor before = clone(bn.running_mean);
  bn(to(x, DType::Float32));
  EXPECT_EQ(bn.running_mean.to_vector<float>(), before.to_vector<float>());
  EXPECT_EQ(bn.num_batches_tracked.item<int64_t>(), 1);
}

TEST(Optim, SgdMomentumFollowsTorchRule) {
  Tensor p = Tensor::from_vector<double>({1.0}, {1});
  p.set_requires_grad();
  optim::SGD sgd({p}, 0.1, 0.9);
  // grad 2 both steps: buf = 2, then 0.9 * 2 + 2 = 3.8.
  for (int i = 0; i < 2; ++i) {
    p.set_grad(Tensor::from_vector<double>({2.0}, {1}));
    sgd.step();
  }
  EXPECT_NEAR(p.item<double>(), 1.0 - 0.1 * 2 - 0.1 * 3.8, 1e-12);
}

TEST(Optim, AdamWFirstStepMovesByLrTimesSignAfterDecay) {
  Tensor p = Tensor::from_vector<double>({1.0, -2.0}, {2});
  p.set_requires_grad();
  optim::AdamW adam({p}, 0.01, 0.9, 0.999, 1e-8, 0.1);
  p.set_grad(Tensor::from_vector<double>({0.5, -3.0}, {2}));
  adam.step();
  // Step 1: m_hat = g, v_hat = g^2, so the update is lr * g / (|g| + eps) after decay.
  std::vector<double> got = p.to_vector<double>();
  EXPECT_NEAR(got[0], 1.0 * (1 - 0.01 * 0.1) - 0.01, 1e-7);
  EXPECT_NEAR(got[1], -2.0 * (1 - 0.01 * 0.1) + 0.01, 1e-7);
}
