// What the higher-order ops share inside the hop layer (the export's replay of
// captured graphs uses hop/replay.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "aotgrad/graph.h"
#include "aotgrad/hop.h"

namespace aotgrad::hop_detail {

/// Calls `body` on `operands` as a nested compile region: directly outside a trace,
/// through invoke_subgraph inside one, its subgraphs reused for every call with the
/// same `cache_key` and operand layouts.
TensorList invoke_region(const std::string& name, const std::string& cache_key, const NestedCompileRegion::Fn& body,
                         const TensorList& operands);

/// flex_attention's results: the output and the logsumexp of each query row.
TensorList flex_attention_outputs(const Tensor& q, const Tensor& k, const Tensor& v, const ScoreMod& score_mod,
                                  const BlockMask& block_mask, std::optional<double> scale);

}  // namespace aotgrad::hop_detail
