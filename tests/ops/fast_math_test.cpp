// The vectorisable float exp and erf against libm (in double) over their ranges.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ops/cpu/fast_math.h"

namespace fast = aotgrad::ops::cpu::fast;

TEST(FastMath, ExpIsWithinTwoUlpsAndHandlesTheEdges) {
  double worst = 0;
  for (float x = -87.0f; x < 88.0f; x += 0.00731f) {
    const double want = std::exp(static_cast<double>(x));
    const double ulp = std::nextafter(static_cast<float>(want), INFINITY) - static_cast<float>(want);
    worst = std::max(worst, std::abs(fast::exp(x) - want) / ulp);
  }
  EXPECT_LE(worst, 2.0);
  EXPECT_EQ(fast::exp(-std::numeric_limits<float>::infinity()), 0.0f);  // masked softmax entries
  EXPECT_EQ(fast::exp(-100.0f), 0.0f);
  EXPECT_EQ(fast::exp(100.0f), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(fast::exp(std::nanf(""))));
  EXPECT_EQ(fast::exp(0.0f), 1.0f);
}

TEST(FastMath, ErfIsAccurateNearZeroAndInTheTails) {
  double worst_abs = 0, worst_rel = 0;
  for (float x = -6.0f; x < 6.0f; x += 0.00093f) {
    const double want = std::erf(static_cast<double>(x));
    const double err = std::abs(fast::erf(x) - want);
    worst_abs = std::max(worst_abs, err);
    if (want != 0) worst_rel = std::max(worst_rel, err / std::abs(want));
  }
  EXPECT_LE(worst_abs, 4e-7);
  EXPECT_LE(worst_rel, 4e-7);
  EXPECT_EQ(fast::erf(0.0f), 0.0f);
  EXPECT_NEAR(fast::erf(1e-6f), 1.1283791670955126e-6, 1e-12);
  EXPECT_NEAR(fast::erf(1e-30f), 1.1283791670955126e-30, 1e-36);  // relative accuracy down to tiny x
  constexpr float kInf = std::numeric_limits<float>::infinity();
  EXPECT_NEAR(fast::erf(kInf), 1.0f, 1e-7);
  EXPECT_NEAR(fast::erf(-kInf), -1.0f, 1e-7);
  EXPECT_TRUE(std::isnan(fast::erf(std::nanf(""))));
}
