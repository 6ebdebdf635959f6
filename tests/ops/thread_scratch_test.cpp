// ThreadScratch: a thread's buffer starts on a cache line whatever its size (a
// 64-byte vector load from a std::vector's 16-byte-aligned storage crosses two lines),
// holds what was asked for, and is the same buffer for the same slot while it is small.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "ops/cpu/thread_scratch.h"

namespace {

using aotgrad::ops::cpu::ThreadScratch;

TEST(ThreadScratch, StartsOnACacheLineAndHoldsWhatWasAsked) {
  for (int64_t n : {1, 3, 16, 17, 1000, 4099, 300000}) {
    ThreadScratch<float, 90> s(n);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(s.get()) % 64, 0u) << n << " floats";
    for (int64_t i = 0; i < n; ++i) s.get()[i] = static_cast<float>(i);  // all n writable (ASan checks)
    EXPECT_EQ(s.get()[n - 1], static_cast<float>(n - 1));
    ThreadScratch<double, 91> d(n);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(d.get()) % 64, 0u) << n << " doubles";
    d.get()[n - 1] = 1.0;
  }
}

TEST(ThreadScratch, ASlotKeepsItsBufferWhileItIsSmall) {
  float* first = nullptr;
  {
    ThreadScratch<float, 92> s(100);
    first = s.get();
  }
  // A buffer of the same size made in between takes the first one's memory if the
  // scratch gave it back.
  std::vector<float> in_between(117);
  ThreadScratch<float, 92> again(50);
  EXPECT_EQ(again.get(), first);
}

}  // namespace
