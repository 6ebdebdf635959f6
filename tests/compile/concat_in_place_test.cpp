// Concatenations in place (Note [Concatenations in place] in
// compile/concat_in_place.cpp): where every input of a concatenation is a
// convolution's output that only the concatenation reads, the convolutions write
// their slices of its output and the concatenation's copy goes; the program computes
// what the ops do, bit for bit, run after run. Where an input is read elsewhere,
// returned, or made by an op that cannot write a slice, or the concatenation is
// returned, or the option is off, the concatenation stays.
#include <gtest/gtest.h>

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

Tensor conv(const Tensor& x, const Tensor& w) {
  return convolution(x, w, Tensor(), {1, 1}, {1, 1}, {1, 1}, false, {0, 0}, 1);
}

std::unique_ptr<compile::Program> build(const Fn& fn, const TensorList& inputs, bool in_place = true) {
  compile::CompileOptions options;
  options.concat_in_place = in_place;
  return compile::Program::build(*trace::make_fx(fn, inputs), options);
}

bool has_label(const compile::Program& p, const std::string& label) {
  for (const auto& ins : p.instructions())
    if (ins.label == label) return true;
  return false;
}

// x; three weights: 5, 3 and 4 output channels of x's 4; the weights of a
// convolution of 12 (5 + 3 + 4) and of 11 (5 + 3 + 3) channels.
TensorList fire_inputs() {
  return {randn({2, 4, 7, 7}), randn({5, 4, 3, 3}),  randn({3, 4, 3, 3}),
          randn({4, 4, 3, 3}), randn({6, 12, 3, 3}), randn({6, 11, 3, 3})};
}

TEST(ConcatInPlace, ConvolutionsWriteTheirSlicesOfTheConcatenation) {
  // A fire module's shape: three convolutions (their ReLUs as epilogues), concatenated
  // along the channels (dim -3), read by a fourth; a temporary made between two of
  // them lives while the concatenation's first slice does.
  const Fn fn = [](const TensorList& in) {
    const Tensor a = relu(conv(in[0], in[1]));
    const Tensor t = mul(in[0], 2.0);
    const Tensor b = relu(conv(t, in[2]));
    const Tensor c = conv(in[0], in[3]);
    return TensorList{conv(cat({a, b, c}, -3), in[4])};
  };
  const TensorList inputs = fire_inputs();
  const auto p = build(fn, inputs);
  EXPECT_EQ(p->stats().concatenations_in_place, 1);
  EXPECT_EQ(p->stats().slices_in_place, 3);
  EXPECT_FALSE(has_label(*p, "aten.cat.default")) << p->print();
  p->verify();
  testing::expect_program_gives(*p, fn, inputs);
}

TEST(ConcatInPlace, TheConcatenationStaysWhereItMust) {
  const TensorList inputs = fire_inputs();
  const std::vector<std::pair<std::string, Fn>> kept{
      {"an input is returned too",
       [](const TensorList& in) {
         const Tensor a = relu(conv(in[0], in[1]));
         return TensorList{conv(cat({a, conv(in[0], in[2]), conv(in[0], in[3])}, 1), in[4]), a};
       }},
      {"another op reads an input",
       [](const TensorList& in) {
         const Tensor a = conv(in[0], in[1]);
         return TensorList{conv(cat({a, conv(in[0], in[2]), conv(in[0], in[3])}, 1), in[4]), sum(a)};
       }},
      {"an input is made by an op that writes only packed outputs",
       [](const TensorList& in) {
         return TensorList{conv(cat({conv(in[0], in[1]), mul(conv(in[0], in[2]), 3.0), conv(in[0], in[3])}, 1), in[4])};
       }},
      {"the same input twice",
       [](const TensorList& in) {
         const Tensor a = conv(in[0], in[2]);
         return TensorList{conv(cat({conv(in[0], in[1]), a, a}, 1), in[5])};
       }},
      {"the concatenation is returned",
       [](const TensorList& in) {
         return TensorList{cat({conv(in[0], in[1]), conv(in[0], in[2]), conv(in[0], in[3])}, 1)};
       }},
  };
  for (const auto& [why, fn] : kept) {
    const auto p = build(fn, inputs);
    EXPECT_EQ(p->stats().concatenations_in_place, 0) << why;
    EXPECT_TRUE(has_label(*p, "aten.cat.default")) << why;
    testing::expect_program_gives(*p, fn, inputs);
  }
  const Fn fire = [](const TensorList& in) {
    return TensorList{conv(cat({conv(in[0], in[1]), conv(in[0], in[2]), conv(in[0], in[3])}, 1), in[4])};
  };
  const auto off = build(fire, inputs, false);
  EXPECT_EQ(off->stats().concatenations_in_place, 0) << "with concat_in_place off";
  EXPECT_TRUE(has_label(*off, "aten.cat.default"));
}

}  // namespace
}  // namespace aotgrad
