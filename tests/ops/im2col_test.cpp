// The AVX-512 im2col (Note [im2col rows in vectors], Note [Small maps in one vector],
// Note [Maps shifted whole])
// against its definition, element by element and bit for bit: strides 1, 2 and 3 (one
// masked load, two and a permute, a gather), dilation, padding on every side, rows
// longer than a vector, maps of at most 16 floats in and out, maps shifted whole
// (stride 1, rows as wide as the input's, Note [Maps shifted whole]), and a leading
// dimension wider than the matrix (images side by side).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "ops/cpu/cpu_features.h"
#include "ops/cpu/im2col_avx512.h"

namespace {
using aotgrad::ops::cpu::Im2colGeometry;

int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

TEST(Im2col, EveryTapOfEveryOutputMatchesTheDefinition) {
  if (!aotgrad::ops::cpu::has_avx512()) GTEST_SKIP() << "this CPU has no AVX-512";
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> dist(-1, 1);
  struct Case {
    int64_t c, h, w, k, s, p, d;
  };
  // Small maps (3x3, 4x4, 2x5: one vector a plane), rows of 7 to 40, strides 1-3.
  const std::vector<Case> cases{{5, 3, 3, 3, 1, 1, 1},   {3, 4, 4, 3, 1, 1, 1},  {2, 2, 5, 2, 1, 1, 1},
                                {3, 3, 3, 1, 1, 0, 1},   {2, 4, 4, 3, 2, 1, 1},  {3, 7, 7, 3, 1, 1, 1},
                                {3, 31, 31, 3, 2, 0, 1}, {2, 9, 40, 3, 2, 1, 1}, {2, 11, 23, 3, 3, 2, 1},
                                {2, 9, 20, 3, 1, 2, 2},  {1, 6, 35, 5, 2, 2, 1}, {4, 15, 15, 3, 1, 1, 1},
                                {2, 5, 5, 5, 1, 2, 1},   {2, 6, 9, 3, 1, 1, 1},  {3, 6, 6, 1, 1, 0, 1}};
  int checked = 0;
  for (const Case& k : cases) {
    const int64_t oh = out_size(k.h, k.k, k.s, k.p, k.d), ow = out_size(k.w, k.k, k.s, k.p, k.d);
    const Im2colGeometry g{k.c, k.h, k.w, oh, ow, k.k, k.k, k.s, k.s, k.p, k.p, k.d, k.d};
    std::vector<float> x(static_cast<size_t>(k.c * k.h * k.w));
    for (float& v : x) v = dist(gen);
    const int64_t rows = k.c * k.k * k.k, ld = oh * ow + 5;
    std::vector<float> col(static_cast<size_t>(rows * ld), 42.0f);
    ASSERT_TRUE(aotgrad::ops::cpu::im2col_avx512(g, x.data(), col.data(), ld));
    for (int64_t ci = 0; ci < k.c; ++ci)
      for (int64_t ki = 0; ki < k.k; ++ki)
        for (int64_t kj = 0; kj < k.k; ++kj)
          for (int64_t oy = 0; oy < oh; ++oy)
            for (int64_t ox = 0; ox < ow; ++ox) {
              const int64_t iy = oy * k.s - k.p + ki * k.d, ix = ox * k.s - k.p + kj * k.d;
              const bool inside = iy >= 0 && iy < k.h && ix >= 0 && ix < k.w;
              const float want = inside ? x[static_cast<size_t>((ci * k.h + iy) * k.w + ix)] : 0.0f;
              const float got = col[static_cast<size_t>(((ci * k.k + ki) * k.k + kj) * ld + oy * ow + ox)];
              ASSERT_EQ(std::memcmp(&got, &want, sizeof got), 0)
                  << k.c << "x" << k.h << "x" << k.w << " kernel " << k.k << " stride " << k.s << " pad " << k.p
                  << " dilation " << k.d << ": channel " << ci << " tap " << ki << "," << kj << " output " << oy << ","
                  << ox << " is " << got << ", want " << want;
              ++checked;
            }
    // Past each row's outputs, the leading dimension's slack is left alone.
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = oh * ow; i < ld; ++i) ASSERT_EQ(col[static_cast<size_t>(r * ld + i)], 42.0f) << "row " << r;
  }
  EXPECT_GT(checked, 10000);
}

}  // namespace
