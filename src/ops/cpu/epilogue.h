// Applying an epilogue's formula to a span of a kernel's output (Note [Epilogues] in
// ops/elementwise.h).
#pragma once

#include <cstdint>

#include "ops/elementwise.h"

namespace aotgrad::ops::cpu {

/// x[i] = formula(x[i]) for i < n, as the formula's op computes it, bit for bit. Null
/// `epilogue`: nothing to do. The formula must be unary.
template <typename T>
void apply_epilogue(const Epilogue* epilogue, T* x, int64_t n);

/// Whether `epilogue` is a ReLU, which the AVX-512 GEMM's segment stores apply as
/// they store a convolution's output (ColumnSegments::relu in sgemm_avx512.h): then
/// there is no pass over the output left to make.
inline bool is_relu(const Epilogue* epilogue) {
  return epilogue != nullptr && epilogue->formula == Formula::Relu;
}

}  // namespace aotgrad::ops::cpu
