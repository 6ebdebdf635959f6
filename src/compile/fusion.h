// Fusing chains of elementwise ops into one loop (the rules: fusion.cpp's header).
#pragma once

#include <vector>

#include "compile/program.h"

namespace aotgrad::compile {

struct FusionStats {
  int64_t groups = 0, ops = 0;
};

/// Replaces chains of float32 elementwise instructions over same-shape contiguous
/// operands by single fused instructions; values only the chain reads are no longer
/// materialised. `operands` (every value each instruction reads) is kept in step.
FusionStats fuse_pointwise_chains(std::vector<Value>& values, std::vector<Instruction>& instructions,
                                  std::vector<std::vector<int>>& operands, const std::vector<int>& outputs);

}  // namespace aotgrad::compile
