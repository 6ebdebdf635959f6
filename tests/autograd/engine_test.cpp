#include <gtest/gtest.h>

#include <cmath>

#include "aotgrad/autograd.h"
#include "aotgrad/error.h"
#include "aotgrad/ops.h"
#include "autograd/node.h"

using namespace aotgrad;

TEST(Autograd, AccumulatesIntoGradAcrossUses) {
  Tensor x = Tensor::from_vector<double>({1, 2, 3}, {3});
  x.set_requires_grad();
  Tensor y = sum(add(mul(x, x), x));  // dy/dx = 2x + 1
  autograd::backward(y);
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3, 5, 7}));
  autograd::backward(sum(x));  // accumulates
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{4, 6, 8}));
}

TEST(Autograd, SequenceNumbersIncreaseAndBackwardRunsLatestFirst) {
  Tensor x = Tensor::from_vector<double>({1, 2}, {2});
  x.set_requires_grad();
  Tensor a = sin(x);
  Tensor b = cos(x);
  EXPECT_LT(a.grad_fn()->seq_nr(), b.grad_fn()->seq_nr());
  TensorList g = autograd::grad({add(a, b)}, {x}, {Tensor::from_vector<double>({1, 1}, {2})});
  EXPECT_NEAR(g[0].to_vector<double>()[0], std::cos(1.0) - std::sin(1.0), 1e-12);
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor x = Tensor::from_vector<double>({1}, {1});
  x.set_requires_grad();
  autograd::NoGradGuard guard;
  Tensor y = mul(x, x);
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
}

TEST(Autograd, UserFunctionRunsItsBackward) {
  Tensor x = Tensor::from_vector<double>({2, 3}, {2});
  x.set_requires_grad();
  TensorList out = autograd::apply_function(
      "Cube", {x},
      [](autograd::FunctionContext& ctx, const TensorList& in) {
        ctx.save_for_backward({in[0]});
        return TensorList{mul(mul(in[0], in[0]), in[0])};
      },
      [](autograd::FunctionContext& ctx, const TensorList& g) {
        return TensorList{mul(g[0], mul(mul(ctx.saved[0], ctx.saved[0]), Scalar(3.0)))};
      });
  autograd::backward(sum(out[0]));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{12, 27}));
}

TEST(Autograd, NotDifferentiableOpsRecordNothing) {
  Tensor x = Tensor::from_vector<double>({1, 2}, {2});
  x.set_requires_grad();
  // Comparisons are explicitly not differentiable: they run and record nothing.
  Tensor c = gt(x, Scalar(1.5));
  EXPECT_FALSE(c.requires_grad());
}

TEST(Autograd, InPlaceOnLeafThatRequiresGradIsAnError) {
  Tensor x = Tensor::from_vector<double>({1, 2}, {2});
  x.set_requires_grad();
  EXPECT_THROW(add_(x, x), Error);
}
