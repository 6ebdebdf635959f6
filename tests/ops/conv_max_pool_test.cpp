// A convolution and its max pool in 16-channel blocks (Note [A convolution and its
// pool in channel blocks] in ops/cpu/conv_max_pool.cpp) against the two ops: the
// pool's values bit for bit against the max pool op over the convolution computed
// with output channels in vectors (the same sums), and the convolution within float
// rounding of the convolution op; strides 1 and 2, pools with and without padding and
// ceil mode (windows hanging past the input), output channels under and over a block,
// with and without the bias and the ReLU, a NaN in the input, 1 and 2 threads; and the
// pairs it declines, their output untouched. The kernel is called as the image
// pipelines call it, through convolution's OpInfo::then_max_pool.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "ops/cpu/conv_channel_vectors_avx512.h"
#include "ops/cpu/cpu_features.h"
#include "ops/registry.h"
#include "support/parallel.h"

namespace aotgrad {
namespace {

struct PairCase {
  int64_t n, c, h, oc, k, stride, pad;  // the convolution
  int64_t pool_k, pool_stride, pool_pad;
  bool ceil;
};

Args conv_args(const Tensor& x, const Tensor& w, const Tensor& b, const PairCase& k) {
  return Args{IValue(x),
              IValue(w),
              b.defined() ? IValue(b) : IValue(),
              IValue(IntList{k.stride, k.stride}),
              IValue(IntList{k.pad, k.pad}),
              IValue(IntList{1, 1}),
              IValue(false),
              IValue(IntList{0, 0}),
              IValue(int64_t{1})};
}

Args pool_args(const Tensor& x, const PairCase& k) {
  return Args{IValue(x),
              IValue(IntList{k.pool_k, k.pool_k}),
              IValue(IntList{k.pool_stride, k.pool_stride}),
              IValue(IntList{k.pool_pad, k.pool_pad}),
              IValue(IntList{1, 1}),
              IValue(k.ceil)};
}

// The pair's kernel as the compiled program's image pipelines find it: convolution's
// OpInfo::then_max_pool.
bool then_max_pool(const Args& conv, const ops::Epilogue* epilogue, const Args& pool, Outputs& outs) {
  const ops::ThenMaxPoolFn& f = ops::op_info(ops::OpId::convolution).then_max_pool;
  EXPECT_TRUE(f) << "convolution registers no kernel for a convolution and its pool";
  return f && f(conv, epilogue, pool, outs);
}

bool same(float a, float b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0;
}

TEST(ConvMaxPool, GivesThePoolOfTheConvolution) {
  if (!ops::cpu::has_avx512()) GTEST_SKIP() << "no AVX-512 here: the pair declines";
  const std::vector<PairCase> cases{
      {3, 3, 33, 64, 3, 2, 0, 3, 2, 0, true},   // squeezenet's first layer, smaller
      {2, 3, 24, 24, 3, 2, 1, 3, 2, 1, false},  // shufflenet's: a padded pool
      {2, 8, 12, 20, 3, 1, 1, 2, 2, 0, false},  // 20 = 16 + 4 channels, 2x2 windows
      {2, 5, 14, 7, 5, 1, 2, 3, 2, 1, true},    // 5x5; 7 channels; windows past the edge
      {1, 16, 9, 40, 1, 1, 0, 3, 1, 1, false},  // a 1x1, a stride-1 pool
  };
  const ops::Epilogue relu_epilogue{ops::Formula::Relu, {}};
  const int before = num_threads();
  int checked = 0;
  for (const PairCase& k : cases)
    for (bool with_bias : {true, false})
      for (bool relu : {true, false})
        for (bool nan : {false, true})
          for (int threads : {1, 2}) {
            set_num_threads(threads);
            Tensor x = randn({k.n, k.c, k.h, k.h});
            if (nan) x.data_ptr<float>()[k.h * k.h / 2] = std::numeric_limits<float>::quiet_NaN();
            const Tensor w = randn({k.oc, k.c, k.k, k.k}), b = with_bias ? randn({k.oc}) : Tensor();
            const int64_t o = (k.h + 2 * k.pad - k.k) / k.stride + 1;
            // The convolution with output channels in vectors, then the pool op.
            Tensor y = zeros({k.n, k.oc, o, o});
            const ops::cpu::FewTapsConv s{k.n, k.c, k.h, k.h, k.oc, k.k, k.k, k.stride, k.stride, k.pad, k.pad};
            ASSERT_TRUE(ops::cpu::conv2d_channel_vectors_forward(s, x.data_ptr<float>(), w.data_ptr<float>(),
                                                                 with_bias ? b.data_ptr<float>() : nullptr, relu,
                                                                 y.data_ptr<float>(), 0));
            const Tensor want = std::get<0>(max_pool2d_with_indices(
                y, {k.pool_k, k.pool_k}, {k.pool_stride, k.pool_stride}, {k.pool_pad, k.pool_pad}, {1, 1}, k.ceil));
            Tensor got = add(zeros_like(want), 42.0);
            Outputs outs{IValue(got), IValue(Tensor())};
            ASSERT_TRUE(then_max_pool(conv_args(x, w, b, k), relu ? &relu_epilogue : nullptr, pool_args(y, k), outs));
            const std::string what = "case " + std::to_string(&k - cases.data()) + (with_bias ? ", bias" : "") +
                                     (relu ? ", relu" : "") + (nan ? ", NaN" : "") + ", " + std::to_string(threads) +
                                     " threads";
            const std::vector<float> g = got.to_vector<float>(), e = want.to_vector<float>();
            ASSERT_EQ(g.size(), e.size());
            for (size_t i = 0; i < g.size(); ++i)
              ASSERT_TRUE(same(g[i], e[i])) << what << ": element " << i << " is " << g[i] << ", the ops give " << e[i];
            // And the convolution is the convolution op's, within float rounding.
            Tensor op = convolution(x, w, b, {k.stride, k.stride}, {k.pad, k.pad}, {1, 1}, false, {0, 0}, 1);
            if (relu) op = aotgrad::relu(op);
            const std::vector<float> yc = y.to_vector<float>(), yo = op.to_vector<float>();
            for (size_t i = 0; i < yc.size(); ++i)
              if (!std::isnan(yo[i])) {
                ASSERT_NEAR(yc[i], yo[i], 1e-4 * (1 + std::abs(yo[i]))) << what << ", conv " << i;
              }
            ++checked;
          }
  set_num_threads(before);
  EXPECT_EQ(checked, static_cast<int>(cases.size()) * 16);
}

TEST(ConvMaxPool, DeclinesWhatItDoesNotCompute) {
  const PairCase k{2, 3, 17, 16, 3, 1, 1, 3, 2, 0, false};
  const Tensor x = randn({2, 3, 17, 17}), w = randn({16, 3, 3, 3}), b = randn({16});
  const Tensor y = zeros({2, 16, 17, 17});
  ops::FormulaParams six;
  six.lower = 0;
  six.upper = 6;
  const ops::Epilogue clamp{ops::Formula::Clamp, six};
  Tensor got = full({2, 16, 8, 8}, Scalar(42.0));
  Outputs outs{IValue(got), IValue(Tensor())};
  // A clamp epilogue; a double convolution; two groups; a dilated convolution; a
  // dilated pool; 4-position rows.
  EXPECT_FALSE(then_max_pool(conv_args(x, w, b, k), &clamp, pool_args(y, k), outs));
  const Tensor xd = randn({2, 3, 17, 17}, DType::Float64), wd = randn({16, 3, 3, 3}, DType::Float64);
  EXPECT_FALSE(then_max_pool(conv_args(xd, wd, Tensor(), k), nullptr, pool_args(y, k), outs));
  Args grouped = conv_args(randn({2, 4, 17, 17}), randn({16, 2, 3, 3}), b, k);
  grouped[8] = IValue(int64_t{2});
  EXPECT_FALSE(then_max_pool(grouped, nullptr, pool_args(y, k), outs));
  Args dilated = conv_args(x, w, b, k);
  dilated[5] = IValue(IntList{2, 2});
  EXPECT_FALSE(then_max_pool(dilated, nullptr, pool_args(y, k), outs));
  Args dilated_pool = pool_args(y, k);
  dilated_pool[4] = IValue(IntList{2, 2});
  EXPECT_FALSE(then_max_pool(conv_args(x, w, b, k), nullptr, dilated_pool, outs));
  const Tensor narrow_x = randn({2, 3, 4, 4});
  EXPECT_FALSE(then_max_pool(conv_args(narrow_x, w, b, k), nullptr, pool_args(y, k), outs));
  // An output whose sizes are not the pool's of this convolution.
  const Tensor wide_x = randn({2, 3, 21, 21});
  EXPECT_FALSE(then_max_pool(conv_args(wide_x, w, b, k), nullptr, pool_args(y, k), outs));
  for (float v : got.to_vector<float>()) ASSERT_EQ(v, 42.0f) << "a declined pair wrote its output";
}

}  // namespace
}  // namespace aotgrad
