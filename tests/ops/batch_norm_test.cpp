// Batch norm in training mode (the batch's statistics) against a plain float64
// computation, at one thread and at two: small maps summed by position (2x2 and 4x4
// maps, Note in norm.cpp's position_moments), larger ones a row at a time, each with
// its images split over the threads and the shares joined (bn_moments). The inputs
// have a mean far from zero against their spread, where a careless variance loses
// its digits.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "aotgrad/ops.h"
#include "support/parallel.h"

namespace aotgrad {
namespace {

struct Moments {
  std::vector<double> mean, var;
};

Moments plain_moments(const std::vector<float>& x, int64_t n, int64_t c, int64_t inner) {
  Moments m{std::vector<double>(static_cast<size_t>(c)), std::vector<double>(static_cast<size_t>(c))};
  const double count = static_cast<double>(n * inner);
  for (int64_t ch = 0; ch < c; ++ch) {
    double s = 0, q = 0;
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < inner; ++i) s += x[static_cast<size_t>((b * c + ch) * inner + i)];
    const double mean = s / count;
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < inner; ++i) {
        const double d = x[static_cast<size_t>((b * c + ch) * inner + i)] - mean;
        q += d * d;
      }
    m.mean[static_cast<size_t>(ch)] = mean;
    m.var[static_cast<size_t>(ch)] = q / count;
  }
  return m;
}

TEST(BatchNorm, TrainingStatisticsAndOutputMatchFloat64AtOneAndTwoThreads) {
  struct Case {
    int64_t n, c, h;
  };
  // [8, 576, 2, 2]: a 2x2 map, summed by position, one thread's work; [20, 256, 4, 4]
  // by position over two threads; [4, 8, 48, 48] a row at a time over two threads;
  // [3, 3, 40, 40] a row at a time on one, an odd count of images.
  const std::vector<Case> cases{{8, 576, 2}, {20, 256, 4}, {4, 8, 48}, {3, 3, 40}};
  const double eps = 1e-5, momentum = 0.1;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int threads_before = num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (const Case& k : cases) {
      const int64_t inner = k.h * k.h;
      std::vector<float> x(static_cast<size_t>(k.n * k.c * inner)), w(static_cast<size_t>(k.c)),
          b(static_cast<size_t>(k.c)), rm(static_cast<size_t>(k.c), 0.5f), rv(static_cast<size_t>(k.c), 2.0f);
      for (float& v : x) v = 300.0f + 0.5f * normal(rng);
      for (float& v : w) v = 1.0f + 0.1f * normal(rng);
      for (float& v : b) v = normal(rng);
      auto t = [](const std::vector<float>& v, Shape s) { return Tensor::from_vector<float>(v, s); };
      auto [y, saved_mean, saved_invstd, new_rm, new_rv] = _native_batch_norm_legit_functional(
          t(x, {k.n, k.c, k.h, k.h}), t(w, {k.c}), t(b, {k.c}), t(rm, {k.c}), t(rv, {k.c}), true, momentum, eps);
      const Moments m = plain_moments(x, k.n, k.c, inner);
      const std::vector<float> got_y = y.to_vector<float>(), got_mean = saved_mean.to_vector<float>(),
                               got_invstd = saved_invstd.to_vector<float>(), got_rm = new_rm.to_vector<float>(),
                               got_rv = new_rv.to_vector<float>();
      const double count = static_cast<double>(k.n * inner);
      for (int64_t ch = 0; ch < k.c; ++ch) {
        const auto c = static_cast<size_t>(ch);
        const double invstd = 1.0 / std::sqrt(m.var[c] + eps);
        std::ostringstream where_text;
        where_text << "[" << k.n << ", " << k.c << ", " << k.h << ", " << k.h << "] at " << threads
                   << " thread(s), channel " << ch;
        const std::string where = where_text.str();
        ASSERT_NEAR(got_mean[c], m.mean[c], 1e-6 * std::abs(m.mean[c])) << where;
        ASSERT_NEAR(got_invstd[c], invstd, 1e-4 * invstd) << where;
        ASSERT_NEAR(got_rm[c], 0.9 * 0.5 + 0.1 * m.mean[c], 1e-5 * std::abs(m.mean[c])) << where;
        ASSERT_NEAR(got_rv[c], 0.9 * 2.0 + 0.1 * m.var[c] * count / (count - 1), 1e-4) << where;
        for (int64_t bi = 0; bi < k.n; ++bi)
          for (int64_t i = 0; i < inner; ++i) {
            const auto at = static_cast<size_t>((bi * k.c + ch) * inner + i);
            const double want = (x[at] - m.mean[c]) * invstd * w[c] + b[c];
            // x is rounded to float around 300 (6e-5 apart): its normalised value is
            // known to ~1e-4 of a standard deviation of 0.5.
            ASSERT_NEAR(got_y[at], want, 2e-3) << where << ", element " << at;
          }
      }
    }
  }
  set_num_threads(threads_before);
}

}  // namespace
}  // namespace aotgrad
