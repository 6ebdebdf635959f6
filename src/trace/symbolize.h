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

#include "aotgrad/stack_trace.h"

namespace aotgrad::trace {

/// The user frames of a captured stack, outermost first (innermost last), at most
/// `max_frames` of them.
std::vector<StackFrame> user_frames(const std::vector<void*>& addresses, size_t max_frames = 6);

/// Whether a source file belongs to aotgrad's library (not to models or tools).
bool is_library_source(const std::string& file);

}  // namespace aotgrad::trace
