// 3x3 convolutions by Winograd's F(4x4, 3x3) (Note [Winograd F(4x4, 3x3)] in
// ops/cpu/conv_winograd_avx512.cpp) against a plain sum in double, within 1e-5 of the
// size of the sum's terms (the transforms' rounding; the direct kernels are held to
// 1e-4 of the value): SqueezeNet's 15x15 and 7x7 layers, maps that are not a whole
// number of 4x4 tiles, padding 0, 1 and 2 and unlike in height and width, input and
// output channels a whole number of 16-channel blocks and not, more output blocks than
// a group, more images than a batch (the last batch short), more tiles an image than
// a transpose holds, one image; with and without a bias and a ReLU, images packed and
// further apart than their blocks (the gaps left as they were), at 1 and 2 threads.
// Then what it declines: a NaN or infinity in the input or the weight (where the
// convolution op keeps the NaN to the outputs whose windows hold it), other kernels,
// strides and empty sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "ops/conv_reference.h"
#include "ops/cpu/conv_winograd_avx512.h"
#include "ops/cpu/cpu_features.h"
#include "support/parallel.h"

namespace aotgrad {
namespace {

using ops::cpu::FewTapsConv;
using testing::describe;
using testing::random_values;

TEST(ConvWinograd, MatchesAPlainSumWithinTheTransformsRounding) {
  if (!ops::cpu::has_avx512()) GTEST_SKIP() << "no AVX-512 here: the path declines every convolution";
  const std::vector<FewTapsConv> cases{
      {2, 16, 15, 15, 64, 3, 3, 1, 1, 1, 1},  // squeezenet's 15x15 layer: a partial tile at each edge
      {3, 32, 7, 7, 128, 3, 3, 1, 1, 1, 1},   // its 7x7 layer: 8 output blocks, two groups
      {2, 20, 10, 13, 40, 3, 3, 1, 1, 1, 1},  // 20 channels (a block and 4), 40 outputs, a 10x13 map
      {20, 24, 8, 8, 17, 3, 3, 1, 1, 1, 1},   // 20 images of 4 tiles: batches of 16 and 4
      {1, 16, 30, 30, 16, 3, 3, 1, 1, 1, 1},  // one image of 64 tiles: a transpose's 16 four times
      {2, 16, 12, 9, 48, 3, 3, 1, 1, 0, 0},   // no padding: 10x7 outputs
      {2, 16, 9, 9, 32, 3, 3, 1, 1, 2, 2},    // padding 2: 11x11
      {2, 5, 11, 8, 20, 3, 3, 1, 1, 2, 0},    // padding in height alone; 5 channels
  };
  const int checked = testing::check_against_reference(cases, ops::cpu::conv2d_winograd_forward,
                                                       [](double, double size) { return 1e-5 * (1 + size); });
  EXPECT_EQ(checked, static_cast<int>(cases.size()) * 8);
}

// A NaN or infinity would spread to a tile's every output through the transforms: the
// kernel declines them, writing nothing.
TEST(ConvWinograd, DeclinesWhatIsNotFinite) {
  if (!ops::cpu::has_avx512()) GTEST_SKIP() << "no AVX-512 here";
  const FewTapsConv s{2, 16, 8, 8, 32, 3, 3, 1, 1, 1, 1};
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()})
    for (bool in_weight : {false, true}) {
      std::vector<float> x = random_values(s.n * s.c * 64), w = random_values(s.oc * s.c * 9);
      (in_weight ? w : x)[in_weight ? 100 : 1000] = bad;
      std::vector<float> y(static_cast<size_t>(s.n * s.oc * 64), 42.0f);
      EXPECT_FALSE(ops::cpu::conv2d_winograd_forward(s, x.data(), w.data(), nullptr, false, y.data()))
          << bad << (in_weight ? " in the weight" : " in the input");
      EXPECT_EQ(y[0], 42.0f);
    }
}

// Through the convolution op, on sizes that take this path when all is finite: a NaN
// in the input reaches exactly the outputs whose windows hold it.
TEST(ConvWinograd, TheConvolutionOpKeepsANaNToItsWindows) {
  const int64_t h = 15;
  Tensor x = randn({2, 16, h, h}), w = randn({64, 16, 3, 3});
  const int64_t row = 6, col = 9;  // channel 3 of image 1
  x.data_ptr<float>()[((1 * 16 + 3) * h + row) * h + col] = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> y = conv2d(x, w, Tensor(), {1, 1}, {1, 1}).to_vector<float>();
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t o = 0; o < 64; ++o)
      for (int64_t oy = 0; oy < h; ++oy)
        for (int64_t ox = 0; ox < h; ++ox) {
          const bool sees = i == 1 && std::abs(oy - row) <= 1 && std::abs(ox - col) <= 1;
          ASSERT_EQ(std::isnan(y[static_cast<size_t>(((i * 64 + o) * h + oy) * h + ox)]), sees)
              << "image " << i << ", channel " << o << ", output (" << oy << ", " << ox << ")";
        }
}

TEST(ConvWinograd, DeclinesOtherKernelsStridesAndEmptySizes) {
  const std::vector<float> x(4096, 1.0f), w(4096, 1.0f);
  std::vector<float> y(4096, 42.0f);
  for (const FewTapsConv& s :
       {FewTapsConv{1, 8, 8, 8, 16, 5, 5, 1, 1, 2, 2}, FewTapsConv{1, 8, 8, 8, 16, 3, 3, 2, 2, 1, 1},
        FewTapsConv{1, 8, 8, 8, 16, 3, 1, 1, 1, 1, 0}, FewTapsConv{0, 8, 8, 8, 16, 3, 3, 1, 1, 1, 1},
        FewTapsConv{1, 8, 8, 8, 0, 3, 3, 1, 1, 1, 1}, FewTapsConv{1, 8, 2, 2, 16, 3, 3, 1, 1, 0, 0}}) {
    EXPECT_FALSE(ops::cpu::conv2d_winograd_forward(s, x.data(), w.data(), nullptr, false, y.data()));
    EXPECT_EQ(y[0], 42.0f);
  }
}

}  // namespace
}  // namespace aotgrad
