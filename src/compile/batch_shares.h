// Inference split by rows of the batch, one program per thread (Note [Batch shares]).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "aotgrad/compile.h"
#include "compile/program.h"
#include "support/parallel.h"

namespace aotgrad::compile {

/// Which values of a graph carry the batch in dim 0, found op by op (rows_rule in
/// batch_shares.cpp): every output row depends only on the same rows of the batch
/// inputs and on the other inputs whole.
struct BatchRows {
  int64_t batch = 0;  // dim 0 of every batch input
  /// Per node: which items of its value carry the batch (none listed: none do).
  std::unordered_map<const graph::Node*, std::vector<bool>> rows;
  bool carries(const graph::Node* n, size_t item = 0) const;
};

/// The graph's batch rows, or why its rows cannot be run apart (the node and op that
/// mixes them, an input that fits no batch, …).
std::variant<BatchRows, std::string> find_batch_rows(const graph::GraphModule& gm);

/// The graph at another batch size: every batch value's dim 0, and the batch entry of
/// the view and expand sizes that keep it, set to `rows`; every layout recomputed by
/// the shape rules (graph::specialize).
std::shared_ptr<graph::GraphModule> at_batch(const graph::GraphModule& gm, const BatchRows& rows, int64_t batch);

/// One program per thread, each compiled for its share of the batch, with its own arena.
class BatchShares {
 public:
  /// The programs for `threads` shares of `gm`'s batch (at most one per row); of the
  /// outputs, run() returns those `wanted` (all if empty), the rest undefined.
  BatchShares(const graph::GraphModule& gm, const BatchRows& rows, int threads, const CompileOptions& options,
              std::vector<bool> wanted = {});
  /// Runs every share on its own thread (the kernels inside run as one thread's do)
  /// and joins the batch outputs' rows; other outputs (made from no batch input, the
  /// same in every share) come from the first share.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) const;
  int64_t shares() const { return static_cast<int64_t>(programs_.size()); }

 private:
  std::vector<bool> batch_inputs_, batch_outputs_, wanted_;
  std::vector<Share> rows_;
  std::vector<std::unique_ptr<Program>> programs_;
};

}  // namespace aotgrad::compile
