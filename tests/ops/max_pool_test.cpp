// The float max pool (vector rows on AVX-512 CPUs, Note [Vector max pool rows])
// against a plain window scan with PyTorch's rule: windows visited row by row, a
// value taken when greater than the best so far or NaN, the first valid element
// always. Inputs of small integers make ties, with NaNs and -inf among them; rows
// wider than 16 outputs, strides 1-3, padding, dilation and ceil mode; many planes of
// short rows, 16 planes to a vector; planes with no NaN or infinity at all; and the
// values alone, without indices.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "aotgrad/ops.h"
#include "ops/cpu/cpu_features.h"
#include "ops/cpu/max_pool_avx512.h"

namespace aotgrad {
namespace {

struct Window {
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  bool ceil;
};

int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil) {
  const int64_t span = in + 2 * p - d * (k - 1) - 1;
  int64_t out = (ceil ? (span + s - 1) / s : span / s) + 1;
  if (ceil && (out - 1) * s >= in + p) --out;  // the last window must start inside the input or its left padding
  return out;
}

// One plane's pooled values and indices by a plain scan of every window.
void scan(const std::vector<float>& x, int64_t h, int64_t w, const Window& k, std::vector<float>& y,
          std::vector<int64_t>& idx) {
  const int64_t oh = out_size(h, k.kh, k.sh, k.ph, k.dh, k.ceil), ow = out_size(w, k.kw, k.sw, k.pw, k.dw, k.ceil);
  for (int64_t oy = 0; oy < oh; ++oy)
    for (int64_t ox = 0; ox < ow; ++ox) {
      float best = -std::numeric_limits<float>::infinity();
      int64_t at = -1;
      for (int64_t ki = 0; ki < k.kh; ++ki)
        for (int64_t kj = 0; kj < k.kw; ++kj) {
          const int64_t iy = oy * k.sh - k.ph + ki * k.dh, ix = ox * k.sw - k.pw + kj * k.dw;
          if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
          const float v = x[static_cast<size_t>(iy * w + ix)];
          if (v > best || std::isnan(v) || at < 0) {
            best = v;
            at = iy * w + ix;
          }
        }
      y.push_back(best);
      idx.push_back(at);
    }
}

bool same_bits(float a, float b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

// Plane sizes (h, w): rows wider and narrower than a vector, in registers (Note
// [Narrow planes in registers]: 31 x 31, 15 x 15, 11 x 13) and across planes.
constexpr std::pair<int64_t, int64_t> kPlaneSizes[] = {{5, 7},  {9, 40},  {31, 31}, {6, 35}, {4, 70},
                                                       {9, 25}, {12, 32}, {15, 15}, {11, 13}};

TEST(MaxPool, EveryWindowMatchesAPlainScanBitForBit) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> value(0, 3), special(0, 40);
  int checked = 0;
  for (auto [h, w] : kPlaneSizes)
    for (auto [kh, kw] : {std::pair<int64_t, int64_t>{2, 2}, {3, 3}, {1, 3}, {3, 2}})
      for (int64_t s : {1, 2, 3})
        for (int64_t pad : {0, 1})
          for (int64_t dil : {1, 2})
            for (bool ceil : {false, true}) {
              if (pad > kh / 2 || pad > kw / 2) continue;  // PyTorch's limit: padding at most half the kernel
              const Window k{kh, kw, s, s, pad, pad, dil, dil, ceil};
              if (out_size(h, kh, s, pad, dil, ceil) < 1 || out_size(w, kw, s, pad, dil, ceil) < 1) continue;
              // 70 planes of short rows take Note [Max pool planes in vectors] (a chunk of 64 and 6).
              const int64_t planes = w <= 31 && checked % 2 == 1 ? 70 : 3;
              // A third of the cases all finite: no window there needs the full rule
              // (Note [Greater alone on finite planes]); the rest have a NaN or -inf in most.
              const bool finite = checked % 3 == 2;
              std::vector<float> x(static_cast<size_t>(planes * h * w));
              for (float& v : x) {
                const int r = finite ? 2 : special(rng);
                v = r == 0   ? std::nanf("")
                    : r == 1 ? -std::numeric_limits<float>::infinity()
                             : static_cast<float>(value(rng));
              }
              auto [y, idx] = max_pool2d_with_indices(Tensor::from_vector<float>(x, {1, planes, h, w}), {kh, kw},
                                                      {s, s}, {pad, pad}, {dil, dil}, ceil);
              const std::vector<float> got = y.to_vector<float>();
              const std::vector<int64_t> got_idx = idx.to_vector<int64_t>();
              std::vector<float> want;
              std::vector<int64_t> want_idx;
              for (int64_t q = 0; q < planes; ++q)
                scan(std::vector<float>(x.begin() + q * h * w, x.begin() + (q + 1) * h * w), h, w, k, want, want_idx);
              ASSERT_EQ(got.size(), want.size());
              // Values alone (no indices: Note [Values alone]), through the vector
              // kernel that takes these planes: bit for bit the same values.
              if (aotgrad::ops::cpu::has_avx512()) {
                const ops::PoolParams pp{kh, kw, s, s, pad, pad, dil, dil, ceil};
                const ops::cpu::PlaneSizes sizes{h, w, out_size(h, kh, s, pad, dil, ceil),
                                                 out_size(w, kw, s, pad, dil, ceil)};
                std::vector<float> alone(want.size(), 42.0f);
                if (!ops::cpu::max_pool_across_planes_avx512(pp, sizes, planes, x.data(), alone.data(), nullptr)) {
                  ASSERT_TRUE(ops::cpu::max_pool_planes_avx512(pp, sizes, planes, x.data(), alone.data(), nullptr));
                }
                for (size_t i = 0; i < want.size(); ++i)
                  ASSERT_TRUE(same_bits(alone[i], want[i]))
                      << h << "x" << w << " kernel " << kh << "x" << kw << " stride " << s << " pad " << pad
                      << " dilation " << dil << (ceil ? " ceil" : "") << ": values alone, output " << i << " is "
                      << alone[i] << ", the scan gives " << want[i];
              }
              for (size_t i = 0; i < want.size(); ++i) {
                ASSERT_TRUE(same_bits(got[i], want[i]) && got_idx[i] == want_idx[i])
                    << h << "x" << w << " kernel " << kh << "x" << kw << " stride " << s << " pad " << pad
                    << " dilation " << dil << (ceil ? " ceil" : "") << ": output " << i << " is " << got[i] << " at "
                    << got_idx[i] << ", the scan gives " << want[i] << " at " << want_idx[i];
              }
              ++checked;
            }
  EXPECT_GT(checked, 300);
}

}  // namespace
}  // namespace aotgrad
