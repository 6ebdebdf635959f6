// Annotations (SPEC.md §7): user metadata recorded on every graph node made inside a
// scope, and carried over to the backward nodes of the ops made there.
//
//   { aotgrad::annotate scope({{"pp_stage", 0}});  y = linear(x); }
//   auto f = aotgrad::annotate_fn({{"pp_stage", 1}}, [](Tensor y) { return y * y; });
//
// Scopes nest: the dicts merge, inner keys win. The state is per thread.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "aotgrad/stack_trace.h"

namespace aotgrad {

using AnnotationValue = std::variant<int64_t, double, bool, std::string>;
/// An ordered string-keyed dict, like the Python dict FX stores in meta["custom"].
using Annotations = std::vector<std::pair<std::string, AnnotationValue>>;

/// A scope guard: while alive, `values` are merged into the current annotations.
class annotate {
 public:
  explicit annotate(const Annotations& values);
  /// Convenience for int-valued dicts: annotate scope({{"pp_stage", 0}}).
  annotate(std::initializer_list<std::pair<const char*, int64_t>> values);
  ~annotate();
  annotate(const annotate&) = delete;
  annotate& operator=(const annotate&) = delete;

 private:
  Annotations saved_;
};

/// The annotations in force on this thread (empty outside every scope).
const Annotations& current_annotations();

/// Marks a call as an anchor for stack traces: make_fx keeps a node's frames from
/// the outermost anchor inward, and none for nodes made outside every anchor, as
/// PyTorch's annotate_fn anchors make_fx's stack traces. Per thread.
class StackAnchor {
 public:
  StackAnchor();
  ~StackAnchor();
  StackAnchor(const StackAnchor&) = delete;
  StackAnchor& operator=(const StackAnchor&) = delete;

 private:
  int saved_;
};
/// The stack depth measured by the outermost live StackAnchor (its caller's frame
/// outward), or -1 outside every anchor.
int stack_anchor_depth();

/// `fn` wrapped so that each call runs inside annotate(values), as a stack anchor.
template <typename F>
auto annotate_fn(Annotations values, F fn) {
  return [values = std::move(values), fn = std::move(fn)](auto&&... args) {
    annotate scope(values);
    StackAnchor anchor;
    return fn(std::forward<decltype(args)>(args)...);
  };
}

/// Replaying a captured graph: a stack trace to record instead of capturing one
/// (empty: capture as usual). Set by the code that replays, per thread.
const StackTrace& current_stack_trace_override();
class StackTraceOverride {
 public:
  explicit StackTraceOverride(StackTrace trace);
  ~StackTraceOverride();
  StackTraceOverride(const StackTraceOverride&) = delete;
  StackTraceOverride& operator=(const StackTraceOverride&) = delete;

 private:
  StackTrace saved_;
};

}  // namespace aotgrad
