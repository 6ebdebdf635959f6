// What the CPU the process runs on can do, for kernels that carry a second copy
// compiled for a wider instruction set than the build's -march (x86-64-v3).
#pragma once

namespace aotgrad::ops::cpu {

/// Whether this CPU runs AVX-512F instructions (asked once).
bool has_avx512();

}  // namespace aotgrad::ops::cpu
