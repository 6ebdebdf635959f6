// A float max pool over one plane with 16-lane AVX-512 vectors (Note [Vector max
// pool rows] in max_pool_avx512.cpp).
#pragma once

#include <cstdint>

#include "ops/shape/pool_params.h"

namespace aotgrad::ops::cpu {

/// The plane's sizes: input h × w, output oh × ow.
struct PlaneSizes {
  int64_t h, w, oh, ow;
};

/// For each of `planes` consecutive planes of `x`: writes the max of every window to
/// `y` and, for each, the flat index in its plane (iy * w + ix) of the first maximum
/// in window order, a NaN winning, -1 for a window entirely in the padding: exactly
/// what the scalar kernel gives. `indices` null: the values alone (Note [Values alone]).
/// Returns false, writing nothing, when the CPU lacks AVX-512 or a plane's indices do
/// not fit 32 bits.
bool max_pool_planes_avx512(const PoolParams& p, const PlaneSizes& s, int64_t planes, const float* x, float* y,
                            int64_t* indices);

/// The same for planes whose rows are too short to fill the row kernel's vectors, 16
/// planes per vector (Note [Max pool planes in vectors]): bit for bit the same values
/// and indices. Returns false, writing nothing, where that would not pay (fewer than
/// 16 planes, rows that fill the vectors) or under max_pool_planes_avx512's conditions.
bool max_pool_across_planes_avx512(const PoolParams& p, const PlaneSizes& s, int64_t planes, const float* x, float* y,
                                   int64_t* indices);

}  // namespace aotgrad::ops::cpu
