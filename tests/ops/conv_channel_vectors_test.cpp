// Convolutions with output channels in the vectors (Note [Output channels in vectors]
// in ops/cpu/conv_channel_vectors_avx512.cpp) against a plain sum in double: 3x3 on
// maps of 7x7 and 15x15 (a row in one tile and in two), stride 2, 5x5, kernels and
// padding unlike in height and width, rows wider than a tile, 1x1 with its rows merged
// and at stride 2; output channels a whole number of 16-channel blocks and not (fewer
// than one block); with and without a bias and a ReLU in the store, images packed and
// further apart than their blocks (the gaps left as they were), at 1 and 2 threads,
// one image split over both.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "aotgrad/random.h"
#include "ops/conv_reference.h"
#include "ops/cpu/conv_channel_vectors_avx512.h"
#include "ops/cpu/cpu_features.h"
#include "support/parallel.h"

namespace aotgrad {
namespace {

using ops::cpu::FewTapsConv;
using testing::describe;
using testing::random_values;

TEST(ConvChannelVectors, MatchesAPlainSum) {
  if (!ops::cpu::has_avx512()) GTEST_SKIP() << "no AVX-512 here: the path declines every convolution";
  const std::vector<FewTapsConv> cases{
      {3, 32, 7, 7, 128, 3, 3, 1, 1, 1, 1},   // squeezenet's 3x3 on 7x7 maps: 8 blocks
      {2, 16, 15, 15, 40, 3, 3, 1, 1, 1, 1},  // a row in two tiles; 40 = 16 + 16 + 8 channels
      {2, 8, 16, 16, 20, 3, 3, 2, 2, 1, 1},   // stride 2
      {2, 4, 9, 9, 5, 5, 5, 1, 1, 2, 2},      // 5x5, 5 channels: less than a block
      {2, 6, 8, 11, 17, 3, 5, 1, 1, 1, 0},    // a 3x5 kernel, padding in height alone
      {1, 8, 6, 40, 33, 3, 3, 1, 1, 1, 1},    // rows of 40: three tiles
      {3, 64, 7, 7, 32, 1, 1, 1, 1, 0, 0},    // a 1x1: rows merged, 49 positions
      {2, 48, 15, 15, 24, 1, 1, 1, 1, 0, 0},  // a 1x1 on 225 positions
      {2, 32, 9, 9, 16, 1, 1, 2, 2, 0, 0},    // a 1x1 at stride 2: rows apart
  };
  const int checked =
      testing::check_against_reference(cases, ops::cpu::conv2d_channel_vectors_forward,
                                       [](double value, double) { return 1e-4 * (1 + std::abs(value)); });
  EXPECT_EQ(checked, static_cast<int>(cases.size()) * 8);
}

// The store's ReLU is Formula::Relu's `x < 0 ? 0 : x`: a NaN stays NaN (max(x, 0)
// would make it 0).
TEST(ConvChannelVectors, ReluKeepsNaN) {
  if (!ops::cpu::has_avx512()) GTEST_SKIP() << "no AVX-512 here";
  const FewTapsConv s{1, 32, 7, 7, 16, 3, 3, 1, 1, 1, 1};
  std::vector<float> x(static_cast<size_t>(s.c * s.h * s.w), -1.0f), w(static_cast<size_t>(s.oc * s.c * 9), 1.0f);
  x[3 * 7 + 3] = std::numeric_limits<float>::quiet_NaN();  // channel 0, the map's centre: every output sees it
  std::vector<float> y(static_cast<size_t>(s.oc * 49), 42.0f);
  ASSERT_TRUE(ops::cpu::conv2d_channel_vectors_forward(s, x.data(), w.data(), nullptr, true, y.data(), 0));
  EXPECT_TRUE(std::isnan(y[3 * 7 + 3])) << "the centre output reads the NaN";
  EXPECT_EQ(y[0], 0.0f) << "a corner output (sum -" << s.c * 4 << ") is below zero";
}

TEST(ConvChannelVectors, DeclinesEmptySizes) {
  const std::vector<float> x(64, 1.0f), w(64, 1.0f);
  std::vector<float> y(64, 42.0f);
  for (const FewTapsConv& s :
       {FewTapsConv{0, 8, 4, 4, 4, 3, 3, 1, 1, 1, 1}, FewTapsConv{1, 8, 4, 4, 0, 3, 3, 1, 1, 1, 1},
        FewTapsConv{1, 8, 2, 2, 4, 3, 3, 1, 1, 0, 0}}) {
    EXPECT_FALSE(ops::cpu::conv2d_channel_vectors_forward(s, x.data(), w.data(), nullptr, false, y.data(), 0));
    EXPECT_EQ(y[0], 42.0f);
  }
}

}  // namespace
}  // namespace aotgrad
