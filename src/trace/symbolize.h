// Turning raw return addresses into the user's source locations (stack traces on
// graph nodes, SPEC.md §7).
//
// Addresses are captured cheaply while tracing (backtrace()) and symbolized once per
// address, through elfutils' libdw, with results cached for the process. Inlined
// calls are expanded into their logical frames, so a model line that calls an inline
// helper is still found. Frames inside aotgrad's library sources are dropped: a
// node's trace points at the code that asked for the op, never at the library.
#pragma once

#include <string>
#include <vector>

namespace aotgrad::trace {

struct SourceFrame {
  std::string file;  // as recorded in the debug info (usually absolute)
  int line = 0;
  std::string function;  // short name ("forward", "run")
  std::string code;      // the source line's text, trimmed, if the file is readable
};

/// The user frames of a captured stack, outermost first (innermost last), at most
/// `max_frames` of them.
std::vector<SourceFrame> user_frames(const std::vector<void*>& addresses, size_t max_frames = 6);

/// FX's stack_trace text for those frames:
///   File "model.cpp", line 42, in forward
///       y = linear(x)
std::string format_stack_trace(const std::vector<SourceFrame>& frames);

/// Whether a source file belongs to aotgrad's library (not to models or tools).
bool is_library_source(const std::string& file);

}  // namespace aotgrad::trace
