// Epilogues in the compiled program (Note [Epilogues] in ops/elementwise.h,
// compile/epilogue_fusion.cpp): a convolution whose output only a unary elementwise
// op reads runs as one instruction with that op applied as it writes, and computes
// what the two ops do; where anything else reads the convolution's output, or the
// reader is not a unary formula, or the option is off, the two stay apart.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "aotgrad/compile.h"
#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "aotgrad/trace.h"
#include "compile/program.h"
#include "compile/program_outputs.h"

namespace aotgrad {
namespace {

using Fn = testing::TracedFn;

Tensor conv(const Tensor& x, const Tensor& w, const Tensor& b) {
  return convolution(x, w, b, {1, 1}, {1, 1}, {1, 1}, false, {0, 0}, 1);
}

struct Built {
  std::unique_ptr<compile::Program> program;
  std::vector<std::string> labels;
};

Built build(const Fn& fn, const TensorList& inputs, bool epilogues = true) {
  compile::CompileOptions options;
  options.fuse_epilogues = epilogues;
  Built b{compile::Program::build(*trace::make_fx(fn, inputs), options), {}};
  for (const auto& ins : b.program->instructions()) b.labels.push_back(ins.label);
  return b;
}

bool has_label(const Built& b, const std::string& label) {
  for (const auto& l : b.labels)
    if (l == label) return true;
  return false;
}

TensorList conv_inputs() {
  Tensor x = mul(randn({2, 4, 7, 7}), 3.0);
  x.data_ptr<float>()[3] = std::nanf("");
  return {x, randn({6, 4, 3, 3}), randn({6})};
}

TEST(Epilogue, AConvolutionTakesTheReluThatAloneReadsIt) {
  const Fn fn = [](const TensorList& in) { return TensorList{relu(conv(in[0], in[1], in[2]))}; };
  const TensorList inputs = conv_inputs();
  const Built b = build(fn, inputs);
  EXPECT_EQ(b.program->stats().epilogues, 1);
  EXPECT_TRUE(has_label(b, "fused[convolution, relu; epilogue]")) << ::testing::PrintToString(b.labels);
  EXPECT_FALSE(has_label(b, "aten.relu.default")) << ::testing::PrintToString(b.labels);
  testing::expect_program_gives(*b.program, fn, inputs);
}

TEST(Epilogue, AClampIsAnEpilogueWithItsBounds) {
  const Fn fn = [](const TensorList& in) { return TensorList{clamp(conv(in[0], in[1], in[2]), 0.0, 6.0)}; };
  const TensorList inputs = conv_inputs();
  const Built b = build(fn, inputs);
  EXPECT_EQ(b.program->stats().epilogues, 1);
  testing::expect_program_gives(*b.program, fn, inputs);
}

TEST(Epilogue, TheTwoStayApartWhereTheyMust) {
  const TensorList inputs = conv_inputs();
  const std::vector<std::pair<std::string, Fn>> apart{
      {"the convolution's output is returned too",
       [](const TensorList& in) {
         Tensor y = conv(in[0], in[1], in[2]);
         return TensorList{relu(y), y};
       }},
      {"another op reads the convolution's output",
       [](const TensorList& in) {
         Tensor y = conv(in[0], in[1], in[2]);
         return TensorList{add(relu(y), y)};
       }},
      {"the reader is a binary formula (with a number)",
       [](const TensorList& in) { return TensorList{mul(conv(in[0], in[1], in[2]), 2.0)}; }},
  };
  for (const auto& [why, fn] : apart) {
    const Built b = build(fn, inputs);
    EXPECT_EQ(b.program->stats().epilogues, 0) << why;
    testing::expect_program_gives(*b.program, fn, inputs);
  }
  const Fn fused = [](const TensorList& in) { return TensorList{relu(conv(in[0], in[1], in[2]))}; };
  const Built off = build(fused, inputs, false);
  EXPECT_EQ(off.program->stats().epilogues, 0) << "with fuse_epilogues off";
  EXPECT_TRUE(has_label(off, "aten.relu.default")) << ::testing::PrintToString(off.labels);
}

}  // namespace
}  // namespace aotgrad
