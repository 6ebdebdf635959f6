// Copies that transpose in 16x16 and 8x8 register blocks (Note [Transposing copies]) against
// the element they must put at each index, read through the source's strides: sizes
// that are and are not multiples of 8 and 16, the source's contiguous dim anywhere before
// the last, several outer dims, a broadcast column, int32 bits moved untouched; and
// the copies it must leave to the element loop.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "ops/cpu/loops.h"
#include "ops/cpu/transpose_copy.h"

namespace aotgrad {
namespace {

// The element at flat index `flat` of a contiguous tensor of `sizes`, read from `t`.
template <typename T>
T at_index(const Tensor& t, int64_t flat) {
  int64_t off = 0;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    off += flat % t.sizes()[d] * t.strides()[d];
    flat /= t.sizes()[d];
  }
  return static_cast<const T*>(t.raw_data())[off];
}

void expect_transposed_copy(const Shape& base, const IntList& dims) {
  const Tensor src = permute(randn(base, DType::Float32), dims);
  Tensor dst = Tensor::empty(src.sizes(), DType::Float32);
  ASSERT_TRUE(ops::cpu::copy_transposing(dst, src)) << shape_str(base);
  const float* out = dst.data_ptr<float>();
  for (int64_t i = 0; i < dst.numel(); ++i)
    ASSERT_EQ(out[i], at_index<float>(src, i)) << "element " << i << " of " << shape_str(base);
}

TEST(TransposeCopy, EveryElementLandsWhereTheStridesSay) {
  expect_transposed_copy({8, 4, 64, 32}, {0, 1, 3, 2});  // attention's kᵀ
  expect_transposed_copy({8, 64, 4, 32}, {0, 2, 3, 1});
  expect_transposed_copy({13, 17}, {1, 0});  // ragged in both dims
  expect_transposed_copy({37, 70}, {1, 0});  // 16x16 tiles, then 8x8 and single elements right of them and below
  expect_transposed_copy({9, 8}, {1, 0});
  expect_transposed_copy({8, 23}, {1, 0});
  expect_transposed_copy({3, 2, 19, 11}, {3, 1, 0, 2});  // contiguous dim first, two outer dims between
  expect_transposed_copy({2, 10, 3, 12}, {0, 3, 2, 1});
  // A column broadcast along the last dim: the same source column in every destination column.
  const Tensor column = expand(randn({16, 1}, DType::Float32), {16, 16});
  Tensor out = Tensor::empty({16, 16}, DType::Float32);
  ASSERT_TRUE(ops::cpu::copy_transposing(out, column));
  for (int64_t i = 0; i < out.numel(); ++i) ASSERT_EQ(out.data_ptr<float>()[i], at_index<float>(column, i));
}

TEST(TransposeCopy, FourByteIntegersMoveBitForBit) {
  std::vector<int32_t> values(16 * 24);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<int32_t>(i * 2654435761u);
  Tensor base = Tensor::empty({16, 24}, DType::Int32);
  std::memcpy(base.raw_data(), values.data(), values.size() * sizeof(int32_t));
  const Tensor src = permute(base, {1, 0});
  Tensor dst = Tensor::empty(src.sizes(), DType::Int32);
  ASSERT_TRUE(ops::cpu::copy_transposing(dst, src));
  for (int64_t i = 0; i < dst.numel(); ++i) ASSERT_EQ(dst.data_ptr<int32_t>()[i], at_index<int32_t>(src, i));
}

TEST(TransposeCopy, LeavesOtherCopiesToTheElementLoop) {
  const Tensor x = randn({16, 16}, DType::Float32);
  Tensor out = Tensor::empty({16, 16}, DType::Float32);
  EXPECT_FALSE(ops::cpu::copy_transposing(out, x));                                       // already contiguous
  EXPECT_FALSE(ops::cpu::copy_transposing(out, to(permute(x, {1, 0}), DType::Float64)));  // another dtype
  EXPECT_FALSE(ops::cpu::copy_transposing(Tensor::empty({16, 16}, DType::Float64),
                                          permute(randn({16, 16}, DType::Float64), {1, 0})));  // 8-byte elements
  EXPECT_FALSE(ops::cpu::copy_transposing(Tensor::empty({16, 4}, DType::Float32),
                                          permute(randn({4, 16}, DType::Float32), {1, 0})));  // under a tile wide
  // And copy_into takes the transposing path with the same result as element by element.
  const Tensor t = permute(randn({24, 40}, DType::Float32), {1, 0});
  Tensor via = Tensor::empty(t.sizes(), DType::Float32);
  ops::cpu::copy_into(via, t);
  for (int64_t i = 0; i < via.numel(); ++i) ASSERT_EQ(via.data_ptr<float>()[i], at_index<float>(t, i));
}

// coalesce_dims (loops.h) merges the dims every operand steps through as one, and
// the strided element loops then copy what they copied before: a channel shuffle,
// a broadcast, and dims of one.
TEST(CoalesceDims, MergesOnlyWhatEveryOperandStepsThroughAsOne) {
  Shape sizes{8, 2, 24, 8, 8};
  std::array<Shape, 2> strides{Shape{3072, 1536, 64, 8, 1}, Shape{3072, 64, 128, 8, 1}};  // [.., 2, 24, ..] swapped
  ops::cpu::coalesce_dims(sizes, strides);
  EXPECT_EQ(sizes, (Shape{8, 2, 24, 64}));
  EXPECT_EQ(strides[1], (Shape{3072, 64, 128, 1}));
  Shape ones{1, 5, 1, 3};
  std::array<Shape, 1> one_strides{Shape{7, 3, 99, 1}};
  ops::cpu::coalesce_dims(ones, one_strides);
  EXPECT_EQ(ones, (Shape{15}));
  const Tensor x = randn({8, 24, 2, 8, 8}, DType::Float32);
  for (const Tensor& src :
       {permute(x, {0, 2, 1, 3, 4}), expand(randn({1, 24, 1, 8, 1}, DType::Float32), x.sizes()), slice(x, 1, 3, 17)}) {
    Tensor dst = Tensor::empty(src.sizes(), DType::Float32);
    ops::cpu::copy_into(dst, src);
    for (int64_t i = 0; i < dst.numel(); ++i) ASSERT_EQ(dst.data_ptr<float>()[i], at_index<float>(src, i)) << i;
  }
}

}  // namespace
}  // namespace aotgrad
