// A compiled program's outputs against the function it was traced from, run eagerly:
// the check every compile-stage test makes of a transformed program.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <vector>

#include "aotgrad/tensor.h"
#include "compile/program.h"

namespace aotgrad::testing {

using TracedFn = std::function<TensorList(const TensorList&)>;

/// Runs `p` on `inputs` `runs` times (a second run finds the arena as the first left
/// it); every float output must be fn's, eagerly, bit for bit (NaN where fn has NaN).
inline void expect_program_gives(const compile::Program& p, const TracedFn& fn, const TensorList& inputs,
                                 int runs = 2) {
  const TensorList want = fn(inputs);
  for (int run = 0; run < runs; ++run) {
    const std::vector<Tensor> got = p.run(std::vector<Tensor>(inputs.begin(), inputs.end()));
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      const std::vector<float> g = got[i].to_vector<float>(), w = want[i].to_vector<float>();
      ASSERT_EQ(g.size(), w.size());
      for (size_t k = 0; k < g.size(); ++k)
        ASSERT_TRUE(std::memcmp(&g[k], &w[k], sizeof(float)) == 0 || (std::isnan(g[k]) && std::isnan(w[k])))
            << "run " << run << ", output " << i << " element " << k << ": " << g[k] << " against " << w[k];
    }
  }
}

}  // namespace aotgrad::testing
