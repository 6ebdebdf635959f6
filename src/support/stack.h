// Capturing return addresses cheaply, by walking frame pointers.
//
// The tracer records where each op was called from (SPEC.md §7). glibc's
// backtrace() unwinds with DWARF tables and takes locks, which made export with
// stack traces 3x slower; aotgrad is built with -fno-omit-frame-pointer, so the
// saved-frame-pointer chain gives the same addresses for a few nanoseconds each.
// The walk stays inside the thread's stack bounds and stops at the first frame that
// does not lead further up the stack (code built without frame pointers), so it
// never reads outside the stack.
#pragma once

#include <pthread.h>

#include <cstdint>

namespace aotgrad {

/// Fills `out` with up to `max` return addresses, innermost first; returns how many.
/// Always inlined, so the walk starts at the calling function's frame.
[[gnu::always_inline]] inline int capture_frames(void** out, int max) {
  thread_local uintptr_t lo = 0, hi = 0;
  if (hi == 0) {
    pthread_attr_t attr;
    void* addr = nullptr;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      pthread_attr_getstack(&attr, &addr, &size);
      pthread_attr_destroy(&attr);
    }
    lo = reinterpret_cast<uintptr_t>(addr);
    hi = lo + size;
  }
  auto* fp = static_cast<void**>(__builtin_frame_address(0));
  int n = 0;
  while (n < max) {
    const auto here = reinterpret_cast<uintptr_t>(fp);
    if (here < lo || here + 2 * sizeof(void*) > hi || (here & (sizeof(void*) - 1)) != 0) break;
    void* ret = fp[1];
    if (ret == nullptr) break;
    out[n++] = ret;
    auto* next = static_cast<void**>(fp[0]);
    if (reinterpret_cast<uintptr_t>(next) <= here) break;  // not a caller's frame
    fp = next;
  }
  return n;
}

/// How many frames capture_frames would find from the caller to the bottom of the stack.
[[gnu::always_inline]] inline int stack_depth() {
  void* frames[1024];
  return capture_frames(frames, 1024);
}

/// Of a capture of `depth` frames in all, how many innermost ones lie inside the
/// annotate_fn call that measured `anchor_depth` frames (its own frame included), or
/// -1 when there is no anchor. Both walks share the frames outside the anchor.
inline int frames_inside_anchor(int depth, int anchor_depth) {
  if (anchor_depth < 0 || depth - anchor_depth < 0) return -1;
  return depth - anchor_depth + 1;
}

}  // namespace aotgrad
