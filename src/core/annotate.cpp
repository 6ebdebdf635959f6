#include "aotgrad/annotate.h"

#include "support/stack.h"

namespace aotgrad {

namespace {
thread_local Annotations t_annotations;
thread_local StackTrace t_stack_override;
thread_local int t_anchor_depth = -1;

Annotations merged(Annotations base, const Annotations& inner) {
  for (const auto& [k, v] : inner) {
    bool replaced = false;
    for (auto& [bk, bv] : base)
      if (bk == k) {
        bv = v;  // inner keys win, keeping the outer key's position
        replaced = true;
      }
    if (!replaced) base.emplace_back(k, v);
  }
  return base;
}

Annotations from_ints(std::initializer_list<std::pair<const char*, int64_t>> values) {
  Annotations a;
  for (const auto& [k, v] : values) a.emplace_back(k, v);
  return a;
}
}  // namespace

annotate::annotate(const Annotations& values) : saved_(t_annotations) {
  t_annotations = merged(t_annotations, values);
}

annotate::annotate(std::initializer_list<std::pair<const char*, int64_t>> values) : annotate(from_ints(values)) {}

annotate::~annotate() {
  t_annotations = std::move(saved_);
}

const Annotations& current_annotations() {
  return t_annotations;
}

StackAnchor::StackAnchor() : saved_(t_anchor_depth) {
  // Measured here, from the frame that called this constructor (the annotate_fn call).
  if (t_anchor_depth < 0) t_anchor_depth = stack_depth();
}

StackAnchor::~StackAnchor() {
  t_anchor_depth = saved_;
}

int stack_anchor_depth() {
  return t_anchor_depth;
}

const StackTrace& current_stack_trace_override() {
  return t_stack_override;
}

StackTraceOverride::StackTraceOverride(StackTrace trace) : saved_(std::move(t_stack_override)) {
  t_stack_override = std::move(trace);
}

StackTraceOverride::~StackTraceOverride() {
  t_stack_override = std::move(saved_);
}

}  // namespace aotgrad
