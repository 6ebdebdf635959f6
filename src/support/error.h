// Errors for people (STYLE.md rule 5).
//
// Two kinds: a user error (bad shapes, bad arguments, bad files) and an internal
// error (a broken invariant inside aotgrad). Both throw aotgrad::Error; library
// code never aborts. Each layer that catches an Error on its way out may add one
// line of context with Error::add_context ("while exporting module 'ConvBN'").
#pragma once

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace aotgrad {

enum class ErrorKind { User, Internal };

class Error : public std::exception {
 public:
  Error(ErrorKind kind, std::string message) : kind_(kind), message_(std::move(message)) { rebuild(); }
  ErrorKind kind() const { return kind_; }
  /// The first line: what went wrong, without the context lines.
  const std::string& message() const { return message_; }
  const std::vector<std::string>& context() const { return context_; }
  /// Adds one line of context ("while running op 'mm'"); innermost first.
  void add_context(std::string line) {
    context_.push_back(std::move(line));
    rebuild();
  }
  const char* what() const noexcept override { return full_.c_str(); }

 private:
  void rebuild() {
    full_ = (kind_ == ErrorKind::Internal ? "internal error: " : "") + message_;
    for (const auto& c : context_) full_ += "\n  " + c;
  }
  ErrorKind kind_;
  std::string message_;
  std::vector<std::string> context_;
  std::string full_;
};

}  // namespace aotgrad

/// A check on user input: throws aotgrad::Error(User) with a fmt-formatted message.
#define AG_CHECK(cond, ...)                                                                    \
  do {                                                                                         \
    if (!(cond)) throw ::aotgrad::Error(::aotgrad::ErrorKind::User, fmt::format(__VA_ARGS__)); \
  } while (0)

/// An invariant of aotgrad itself; failing it is a bug in aotgrad, not in the caller.
#define AG_INTERNAL_CHECK(cond, ...)                                                                 \
  do {                                                                                               \
    if (!(cond))                                                                                     \
      throw ::aotgrad::Error(::aotgrad::ErrorKind::Internal,                                         \
                             fmt::format("{}:{}: ", __FILE__, __LINE__) + fmt::format(__VA_ARGS__)); \
  } while (0)

#define AG_FAIL(...) throw ::aotgrad::Error(::aotgrad::ErrorKind::User, fmt::format(__VA_ARGS__))
