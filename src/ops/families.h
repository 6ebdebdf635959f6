// The op families: each registers its shape rules, kernels, derivatives and
// decompositions into the op table (src/ops/registry.cpp calls these once).
#pragma once

#include "ops/registry.h"

namespace aotgrad::ops {

// Lowerings of ATen ops to prims (lowerings/) are used when a trace asks for them.
#define AG_FAMILY(name)                        \
  void register_##name##_shapes(Registry& r);  \
  void register_##name##_kernels(Registry& r); \
  void register_##name##_derivatives(Registry& r);
#define AG_COMPOSITES(name) void register_##name##_composites(Registry& r);
#define AG_LOWERINGS(name) void register_##name##_lowerings(Registry& r);
#define AG_SYM_SHAPES(name) void register_##name##_sym_shapes(Registry& r);
#include "ops/families.def"
#undef AG_FAMILY

/// at::sum_to: sums the broadcast dims of g away to reach `shape` (grad/view.cpp).
Tensor sum_to(const Tensor& g, const SymShape& shape);

}  // namespace aotgrad::ops
