#include "aotgrad/stack_trace.h"

#include <charconv>

namespace aotgrad {

namespace {
std::string format_frames(const std::vector<StackFrame>& frames) {
  std::string out;
  for (const StackFrame& f : frames) {
    out += "  File \"" + f.file + "\", line " + std::to_string(f.line) + ", in " + f.function + "\n";
    out += "    " + f.code + "\n";
  }
  return out;
}

std::string trimmed(const std::string& s) {
  const size_t first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r") + 1 - first);
}

// `File "model.cpp", line 42, in forward` (already trimmed) into `f`.
bool parse_frame_line(const std::string& l, StackFrame& f) {
  if (l.rfind("File \"", 0) != 0) return false;
  const size_t quote = l.find("\", line ", 6);
  if (quote == std::string::npos) return false;
  const size_t number = quote + 8;
  const size_t in_kw = l.find(", in ", number);
  if (in_kw == std::string::npos) return false;
  int line = 0;
  const char* last = l.data() + in_kw;
  auto [end, ec] = std::from_chars(l.data() + number, last, line);
  if (ec != std::errc() || end != last) return false;
  f.file = l.substr(6, quote - 6);
  f.line = line;
  f.function = l.substr(in_kw + 5);
  return true;
}
}  // namespace

std::string StackTrace::text() const {
  return verbatim.empty() ? format_frames(frames) : verbatim;
}

std::string StackTrace::first_verbatim_line() const {
  return verbatim.substr(0, verbatim.find('\n'));
}

StackTrace StackTrace::parse(const std::string& text) {
  std::vector<std::string> lines;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  StackTrace t;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    StackFrame f;
    if (!parse_frame_line(trimmed(lines[i]), f)) continue;
    f.code = trimmed(lines[++i]);
    t.frames.push_back(std::move(f));
  }
  if (format_frames(t.frames) != text) t.verbatim = text;
  return t;
}

}  // namespace aotgrad
