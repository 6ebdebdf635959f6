#include "support/json_input.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/error.h"

namespace aotgrad {

namespace {
// The byte offset where nesting first exceeds kMaxJsonDepth, or npos. Brackets inside
// strings do not count; the parser reports any other malformation afterwards.
size_t too_deep_at(std::string_view text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return i;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return std::string_view::npos;
}
}  // namespace

std::string quote_excerpt(std::string_view text, size_t max_chars) {
  if (text.size() <= max_chars) return std::string(text);
  return std::string(text.substr(0, max_chars)) + "...";
}

nlohmann::json parse_untrusted_json(std::string_view text, const std::string& what) {
  if (size_t at = too_deep_at(text); at != std::string_view::npos)
    AG_FAIL("{}: arrays and objects nest more than {} levels deep (at byte {})", what, kMaxJsonDepth, at);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    AG_FAIL("{}: not valid JSON ({})", what, e.what());
  }
}

nlohmann::json read_untrusted_json_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  AG_CHECK(std::filesystem::exists(path, ec), "{}: does not exist", what);
  AG_CHECK(std::filesystem::is_regular_file(path, ec), "{}: not a regular file", what);
  std::ifstream in(path, std::ios::binary);
  AG_CHECK(in.good(), "{}: cannot be opened", what);
  std::stringstream text;
  text << in.rdbuf();
  AG_CHECK(!in.bad(), "{}: could not be read", what);
  return parse_untrusted_json(text.str(), what);
}

}  // namespace aotgrad
