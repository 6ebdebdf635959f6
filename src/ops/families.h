// The op families: each registers its shape rules, kernels, derivatives and
// decompositions into the op table (src/ops/registry.cpp calls these once).
#pragma once

#include "ops/registry.h"

namespace aotgrad::ops {

#define AG_FAMILY(name)                            \
  void register_##name##_shapes(Registry& r);      \
  void register_##name##_kernels(Registry& r);     \
  void register_##name##_derivatives(Registry& r); \
  void register_##name##_decompositions(Registry& r);
#include "ops/families.def"
#undef AG_FAMILY

// Lowerings of ATen ops to prims (src/ops/decomp/): used when a trace asks for them.
void register_pointwise_lowerings(Registry& r);
void register_reduction_lowerings(Registry& r);
void register_view_lowerings(Registry& r);
void register_factory_lowerings(Registry& r);
void register_norm_lowerings(Registry& r);

/// at::sum_to: sums the broadcast dims of g away to reach `shape` (grad/view.cpp).
Tensor sum_to(const Tensor& g, const Shape& shape);

}  // namespace aotgrad::ops
