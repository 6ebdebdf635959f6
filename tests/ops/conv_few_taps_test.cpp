// Convolutions with few taps (Note [Few taps] in ops/cpu/conv_few_taps_avx512.cpp)
// against a plain sum in double: strides 1 and 2, padding, maps narrower than a vector
// and wider than two, output channels in groups of 8 and one by one, with and without
// a bias, at 1 and 2 threads; and the sizes the path declines.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "aotgrad/random.h"
#include "ops/conv_reference.h"
#include "ops/cpu/conv_few_taps_avx512.h"
#include "ops/cpu/cpu_features.h"
#include "support/parallel.h"

namespace aotgrad {
namespace {

using ops::cpu::FewTapsConv;

std::vector<float> random_values(int64_t n) {
  return randn({n}).to_vector<float>();
}

TEST(ConvFewTaps, MatchesAPlainSum) {
  if (!ops::cpu::has_avx512()) GTEST_SKIP() << "no AVX-512 here: the path declines every convolution";
  const std::vector<FewTapsConv> cases{
      {8, 3, 64, 64, 64, 3, 3, 2, 2, 0, 0},  // squeezenet's first layer
      {2, 3, 17, 13, 24, 3, 3, 2, 2, 1, 1},  // a padded stride-2 layer on an odd map
      {3, 1, 9, 9, 5, 5, 5, 1, 1, 2, 2},     // one channel, 5x5: 25 taps; 5 channels one by one
      {2, 2, 7, 40, 17, 3, 3, 1, 1, 1, 1},   // 40 columns: two blocks and one; 17 = 8 + 8 + 1 channels
      {2, 3, 6, 6, 9, 3, 3, 1, 2, 0, 0},     // row stride 1, column stride 2
      {1, 4, 5, 5, 8, 2, 2, 1, 1, 0, 0},     // 16 taps
  };
  const int before = num_threads();
  for (const FewTapsConv& s : cases)
    for (bool with_bias : {true, false})
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        const std::vector<float> x = random_values(s.n * s.c * s.h * s.w), w = random_values(s.oc * s.c * s.kh * s.kw),
                                 b = random_values(s.oc);
        std::vector<float> y(static_cast<size_t>(s.n * s.oc * s.oh() * s.ow()), 42.0f);
        const float* bias = with_bias ? b.data() : nullptr;
        ASSERT_TRUE(ops::cpu::conv2d_few_taps_forward(s, x.data(), w.data(), bias, nullptr, y.data()));
        const std::vector<double> want = testing::reference_convolution(s, x, w, bias);
        const std::string what = "c " + std::to_string(s.c) + " " + std::to_string(s.h) + "x" + std::to_string(s.w) +
                                 " oc " + std::to_string(s.oc) + " stride " + std::to_string(s.sw) + " threads " +
                                 std::to_string(threads) + (with_bias ? " bias" : "");
        for (size_t k = 0; k < y.size(); ++k)
          ASSERT_NEAR(y[k], want[k], 1e-4 * (1 + std::abs(want[k]))) << what << ", output " << k;
      }
  set_num_threads(before);
}

TEST(ConvFewTaps, DeclinesWhatItDoesNotCompute) {
  const std::vector<float> x(4096, 1.0f), w(4096, 1.0f);
  std::vector<float> y(65536, 42.0f);
  // 36 taps; stride 3; an empty batch; a 1x1 convolution (the GEMM's plain product):
  // nothing is written.
  for (const FewTapsConv& s :
       {FewTapsConv{1, 4, 8, 8, 4, 3, 3, 1, 1, 0, 0}, FewTapsConv{1, 3, 9, 9, 4, 3, 3, 3, 3, 0, 0},
        FewTapsConv{0, 3, 8, 8, 4, 3, 3, 1, 1, 0, 0}, FewTapsConv{1, 32, 7, 7, 16, 1, 1, 1, 1, 0, 0}}) {
    EXPECT_FALSE(ops::cpu::conv2d_few_taps_forward(s, x.data(), w.data(), nullptr, nullptr, y.data()));
    EXPECT_EQ(y[0], 42.0f);
  }
}

}  // namespace
}  // namespace aotgrad
