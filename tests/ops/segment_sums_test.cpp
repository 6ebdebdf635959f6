// Sums and means over a contiguous suffix of dims (a global average pool) against a
// plain double loop: short segments (Note [Short segments side by side] in
// reduction.cpp: 1, 4, 9 and 32 elements, results in blocks of eight and a
// remainder), the first length past them (33) and a long one, float and double,
// with and without keepdim; and a mean over a prefix and a suffix (the general path).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "aotgrad/ops.h"

namespace aotgrad {
namespace {

// x's values in a [results, len] view: the mean of each row.
std::vector<double> row_means(const std::vector<double>& x, int64_t results, int64_t len) {
  std::vector<double> out(static_cast<size_t>(results));
  for (int64_t o = 0; o < results; ++o) {
    double s = 0;
    for (int64_t i = 0; i < len; ++i) s += x[static_cast<size_t>(o * len + i)];
    out[static_cast<size_t>(o)] = s / static_cast<double>(len);
  }
  return out;
}

Tensor random_tensor(const std::vector<int64_t>& sizes, DType dtype, std::mt19937& gen) {
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;
  std::normal_distribution<double> dist(0.5, 2.0);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = dist(gen);
  return to(Tensor::from_vector<double>(v, sizes), dtype);
}

TEST(SegmentSums, MeansOverTrailingDimsMatchAPlainLoop) {
  struct Case {
    std::vector<int64_t> sizes;
    IntList dims;
    int64_t results, len;
  };
  const std::vector<Case> cases = {
      {{2, 11, 3, 3}, {2, 3}, 22, 9},  // squeezenet's pool: two blocks of eight and six more
      {{3, 8, 2, 2}, {2, 3}, 24, 4},   // whole blocks only
      {{5, 1, 1}, {1, 2}, 5, 1},       // segments of one element, fewer results than a block
      {{2, 9, 32}, {2}, 18, 32},       // the longest short segment
      {{2, 9, 33}, {2}, 18, 33},       // the first long one
      {{4, 3, 10, 10}, {2, 3}, 12, 100},
  };
  std::mt19937 gen(11);
  for (DType dtype : {DType::Float32, DType::Float64})
    for (const Case& c : cases)
      for (bool keepdim : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "len " << c.len << " results " << c.results << " keepdim " << keepdim
                                          << (dtype == DType::Float32 ? " float" : " double"));
        const Tensor x = random_tensor(c.sizes, dtype, gen);
        const std::vector<double> want = row_means(x.to_vector<double>(), c.results, c.len);
        const Tensor got = mean(x, c.dims, keepdim);
        ASSERT_EQ(got.numel(), c.results);
        ASSERT_EQ(got.dim(), keepdim ? x.dim() : x.dim() - static_cast<int64_t>(c.dims.size()));
        const std::vector<double> g = got.to_vector<double>();
        const double tol = dtype == DType::Float32 ? 1e-6 : 1e-13;
        for (size_t o = 0; o < want.size(); ++o) ASSERT_NEAR(g[o], want[o], tol * (1 + std::abs(want[o]))) << o;
        // The sum is the same reduction, not divided.
        const std::vector<double> s = sum(x, c.dims, keepdim).to_vector<double>();
        for (size_t o = 0; o < want.size(); ++o)
          ASSERT_NEAR(s[o], want[o] * static_cast<double>(c.len), tol * c.len * (1 + std::abs(want[o]))) << o;
      }
}

TEST(SegmentSums, MeanOverAPrefixAndASuffixTakesEverySegment) {
  std::mt19937 gen(12);
  const Tensor x = random_tensor({3, 5, 2, 4}, DType::Float32, gen);
  const std::vector<double> v = x.to_vector<double>();
  const Tensor got = mean(x, {0, 2, 3});
  ASSERT_EQ(got.numel(), 5);
  for (int64_t c = 0; c < 5; ++c) {
    double s = 0;
    for (int64_t n = 0; n < 3; ++n)
      for (int64_t i = 0; i < 8; ++i) s += v[static_cast<size_t>((n * 5 + c) * 8 + i)];
    EXPECT_NEAR(got.to_vector<double>()[static_cast<size_t>(c)], s / 24, 1e-6) << c;
  }
}

}  // namespace
}  // namespace aotgrad
