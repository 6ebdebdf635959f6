// Where a graph node came from in the user's source: the frames of the call stack
// that asked for its op, kept as structured data (SPEC.md §7). The text PyTorch's FX
// stores in node.meta["stack_trace"] is formatted from it in one place (text()) and
// parsed back in one place (parse(), for graph files); the printer and the
// partitioner read the frames.
#pragma once

#include <string>
#include <vector>

namespace aotgrad {

struct StackFrame {
  std::string file;  // as recorded in the debug info (usually absolute)
  int line = 0;
  std::string function;  // short name ("forward", "run")
  std::string code;      // the source line's text, trimmed, if the file was readable
  bool operator==(const StackFrame&) const = default;
};

struct StackTrace {
  /// The user frames, outermost first (innermost last).
  std::vector<StackFrame> frames;
  /// Text kept exactly as it was given, when text() of the frames would not give it
  /// back: a node no C++ call made (an imported ONNX model's: "ONNX node: conv1", no
  /// frames), or a file's trace with lines beyond the frames (Python's `~~~^^^`).
  std::string verbatim;

  bool empty() const { return frames.empty() && verbatim.empty(); }
  /// The frame that asked for the op, if there are frames.
  const StackFrame* innermost() const { return frames.empty() ? nullptr : &frames.back(); }
  /// FX's stack_trace text: per frame
  ///   `  File "model.cpp", line 42, in forward` and `    y = linear(x)`;
  /// the verbatim text instead, if there is one.
  std::string text() const;
  /// The frames of FX's text (each `File "…", line N, in f` line and the code line
  /// after it; other lines skipped), and the text itself as `verbatim` unless text()
  /// of those frames gives it back: parse(t).text() == t for every t.
  static StackTrace parse(const std::string& text);
  /// The first line of the verbatim text (a provenance), or "".
  std::string first_verbatim_line() const;
  bool operator==(const StackTrace&) const = default;
};

}  // namespace aotgrad
