// Tracing (SPEC.md §5): run C++ code on proxy tensors and record every op it
// dispatches into a graph.
//
// A proxy tensor is a meta tensor (shape, strides, dtype; no data) that knows the
// graph node producing its current value. The tracer is a dispatch mode: it sits
// below autograd, so autograd works on proxies exactly as on real tensors, and
// running a backward while tracing records the backward's ops. Nothing is computed.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <vector>

#include "aotgrad/graph.h"
#include "aotgrad/ivalue.h"

namespace aotgrad::ops {
enum class OpId : uint16_t;
}

namespace aotgrad::trace {

/// Ops to replace by their decomposition while tracing.
class DecompositionTable {
 public:
  DecompositionTable() = default;
  /// The default table (SPEC.md §7): every op with a decomposition except those
  /// that stay as they are (mm, convolution, convolution_backward, as_strided, …).
  static DecompositionTable core();
  void add(ops::OpId op);
  bool contains(ops::OpId op) const;
  bool empty() const { return ops_.empty(); }

 private:
  std::set<uint16_t> ops_;
};

/// Which call frames a node's stack trace keeps.
enum class StackFrames {
  /// Only frames inside annotate_fn calls (StackAnchor), none outside them: make_fx's
  /// rule, as PyTorch's.
  InsideAnchors,
  /// Every user frame: the joint export's rule (PyTorch's export records user code).
  AllUserFrames,
};

struct TraceOptions {
  DecompositionTable decompositions;
  bool record_stack_traces = true;
  StackFrames stack_frames = StackFrames::InsideAnchors;
};

/// How many traces this process has started (exports, captures, make_fx): what shows
/// that a graph with symbolic shapes serves new sizes without tracing again.
int64_t traces_started();

/// Traces `fn` on proxies standing for `inputs` (placeholders "arg0_1", …) and returns
/// the graph: its output is the flat list of `fn`'s result tensors.
std::shared_ptr<graph::GraphModule> make_fx(const std::function<TensorList(const TensorList&)>& fn,
                                            const TensorList& inputs, const TraceOptions& options = {});

}  // namespace aotgrad::trace
