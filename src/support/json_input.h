// Reading JSON that comes from outside (graph files, golden cases): one place that
// bounds what an untrusted document may do to the reader.
//
// nlohmann's parser is iterative, but copying, comparing and our own readers of a
// document recurse once per nesting level, so a file nested 100,000 deep would
// overflow the stack long after parsing succeeded. The text is therefore checked for
// its nesting depth before it is parsed, and every parse failure (syntax, a number
// out of range such as 1e400, invalid UTF-8) becomes a user error naming the file.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace aotgrad {

/// The deepest nesting of arrays and objects a document may have. aotgrad's own
/// files nest about a dozen levels (plus one level of four per nested subgraph).
inline constexpr int kMaxJsonDepth = 128;

/// Parses `text`; `what` names the document in errors ("graph file 'g.json'").
nlohmann::json parse_untrusted_json(std::string_view text, const std::string& what);

/// Reads and parses a whole file (a user error if it cannot be opened or is not a
/// regular file).
nlohmann::json read_untrusted_json_file(const std::string& path, const std::string& what);

/// At most `max_chars` of `text`, with "..." when cut: for quoting file content in errors.
std::string quote_excerpt(std::string_view text, size_t max_chars = 80);

}  // namespace aotgrad
