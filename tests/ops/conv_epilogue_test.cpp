// A convolution with an epilogue (Note [Epilogues] in ops/elementwise.h) against the
// convolution and then the epilogue's own op, bit for bit: ReLU and a clamp with both
// bounds (ReLU6), on every path the convolution kernel takes (depthwise, a 1x1 on 1x1
// maps as a linear layer, the implicit GEMM, images side by side, one image a
// product, few taps, output channels in vectors, Winograd, grouped), in float and double, at 1 and 2 threads, with a
// NaN in the input (relu(NaN) is NaN).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "ops/registry.h"
#include "support/parallel.h"

namespace aotgrad {
namespace {

struct ConvCase {
  std::string path;
  int64_t n, c, h, oc, k, stride, pad, groups;
};

// An output buffer holding 42s, so that an element the kernel leaves unwritten shows.
Tensor output_like(const Tensor& y) {
  return add(zeros_like(y), 42.0);
}

bool same(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0;
}

// One case per path the convolution kernel takes.
std::vector<ConvCase> every_path() {
  return {{"depthwise", 2, 8, 6, 8, 3, 1, 1, 8},
          {"1x1 on 1x1 maps", 4, 16, 1, 24, 1, 1, 0, 1},
          {"implicit GEMM", 2, 5, 15, 8, 3, 1, 1, 1},
          {"output channels in vectors, 3x3", 2, 16, 7, 40, 3, 1, 1, 1},
          {"output channels in vectors, stride 2", 2, 16, 16, 20, 3, 2, 1, 1},
          {"output channels in vectors, 1x1", 2, 64, 7, 32, 1, 1, 0, 1},
          // (Its input's NaN sends the first test to a direct path: the slice test's takes it.)
          {"Winograd F(4x4, 3x3)", 2, 16, 15, 64, 3, 1, 1, 1},
          {"images side by side", 4, 8, 3, 12, 3, 1, 1, 1},
          {"one image a product", 2, 4, 64, 8, 3, 2, 0, 1},
          {"few taps, stride 2", 2, 3, 64, 8, 3, 2, 0, 1},
          {"few taps, stride 1, padded", 3, 2, 20, 12, 3, 1, 1, 1},
          {"1x1, one image a product", 2, 8, 8, 16, 1, 1, 0, 1},
          {"grouped", 2, 8, 5, 6, 3, 1, 1, 2}};
}

Args conv_args(const Tensor& x, const Tensor& w, const Tensor& b, const ConvCase& k) {
  return Args{IValue(x),
              IValue(w),
              IValue(b),
              IValue(IntList{k.stride, k.stride}),
              IValue(IntList{k.pad, k.pad}),
              IValue(IntList{1, 1}),
              IValue(false),
              IValue(IntList{0, 0}),
              IValue(k.groups)};
}

TEST(ConvEpilogue, EveryPathGivesTheConvolutionThenTheOpBitForBit) {
  const std::vector<ConvCase> cases = every_path();
  const ops::OpInfo& conv = ops::op_info(ops::OpId::convolution);
  ASSERT_TRUE(conv.with_epilogue) << "convolution's kernel takes an epilogue";
  const ops::Epilogue relu_epilogue{ops::Formula::Relu, {}};
  ops::FormulaParams six;
  six.lower = 0;
  six.upper = 6;
  const ops::Epilogue relu6_epilogue{ops::Formula::Clamp, six};
  const int threads_before = num_threads();
  int checked = 0;
  for (const ConvCase& k : cases)
    for (DType dtype : {DType::Float32, DType::Float64})
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        Tensor x = mul(randn({k.n, k.c, k.h, k.h}, dtype), 4.0);
        if (dtype == DType::Float32)
          x.data_ptr<float>()[1] = std::nanf("");
        else
          x.data_ptr<double>()[1] = std::nan("");
        Tensor w = randn({k.oc, k.c / k.groups, k.k, k.k}, dtype), b = randn({k.oc}, dtype);
        const Tensor y = convolution(x, w, b, {k.stride, k.stride}, {k.pad, k.pad}, {1, 1}, false, {0, 0}, k.groups);
        const Args args = conv_args(x, w, b, k);
        for (const auto& [epilogue, want] :
             {std::pair{relu_epilogue, relu(y)}, std::pair{relu6_epilogue, clamp(y, Scalar(0.0), Scalar(6.0))}}) {
          Tensor got = output_like(y);
          Outputs outs{IValue(got)};
          conv.with_epilogue(args, outs, epilogue);
          const std::vector<double> g = got.to_vector<double>(), e = want.to_vector<double>();
          ASSERT_EQ(g.size(), e.size());
          for (size_t i = 0; i < g.size(); ++i)
            ASSERT_TRUE(same(g[i], e[i])) << k.path << ", " << dtype_name(dtype) << ", " << threads << " threads, "
                                          << ops::formula_name(epilogue.formula) << ": element " << i << " is " << g[i]
                                          << ", the convolution and then its op give " << e[i];
          ++checked;
        }
      }
  set_num_threads(threads_before);
  EXPECT_EQ(checked, static_cast<int>(cases.size()) * 2 * 2 * 2);
}

// Note [Outputs in slices] (ops/cpu/conv.cpp): an output that is channels [2, 2 + oc)
// of a larger tensor (a concatenation's slice, images further apart than their
// blocks) gets, on every path, at 1 and 2 threads, the values a packed output gets,
// bit for bit, and the channels around it keep what they held; an output whose images
// are not contiguous blocks (a transposed view) too.
TEST(ConvEpilogue, EveryPathWritesIntoASliceOfALargerOutput) {
  const ops::OpInfo& conv = ops::op_info(ops::OpId::convolution);
  const ops::Epilogue relu_epilogue{ops::Formula::Relu, {}};
  const int threads_before = num_threads();
  int checked = 0;
  for (const ConvCase& k : every_path())
    for (DType dtype : {DType::Float32, DType::Float64})
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        const Tensor x = randn({k.n, k.c, k.h, k.h}, dtype), w = randn({k.oc, k.c / k.groups, k.k, k.k}, dtype),
                     b = randn({k.oc}, dtype);
        const Args args = conv_args(x, w, b, k);
        const Tensor want =
            relu(convolution(x, w, b, {k.stride, k.stride}, {k.pad, k.pad}, {1, 1}, false, {0, 0}, k.groups));
        const int64_t oh = want.sizes()[2], ow = want.sizes()[3];
        const Tensor whole = full({k.n, k.oc + 5, oh, ow}, Scalar(42.0), dtype);
        const Tensor transposed = full({k.n, k.oc, ow, oh}, Scalar(42.0), dtype);
        for (const Tensor& out : {narrow(whole, 1, 2, k.oc), transpose(transposed, 2, 3)}) {
          Outputs outs{IValue(out)};
          conv.with_epilogue(args, outs, relu_epilogue);
          const std::vector<double> g = out.to_vector<double>(), e = want.to_vector<double>();
          ASSERT_EQ(g.size(), e.size());
          for (size_t i = 0; i < g.size(); ++i)
            ASSERT_TRUE(same(g[i], e[i]))
                << k.path << ", " << dtype_name(dtype) << ", " << threads << " threads, output strides "
                << out.strides()[0] << ": element " << i << " is " << g[i] << ", a packed output gets " << e[i];
          ++checked;
        }
        for (int64_t channel : {int64_t{0}, int64_t{1}, k.oc + 2, k.oc + 4})
          for (double v : narrow(whole, 1, channel, 1).to_vector<double>())
            ASSERT_EQ(v, 42.0) << k.path << ": channel " << channel << " of the larger tensor was written";
      }
  set_num_threads(threads_before);
  EXPECT_EQ(checked, static_cast<int>(every_path().size()) * 2 * 2 * 2);
}

}  // namespace
}  // namespace aotgrad
