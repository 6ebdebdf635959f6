// aotgrad::Error: what every aotgrad call throws on failure (STYLE.md rule 5).
//
// Two kinds: a user error (bad shapes, bad arguments, bad files) and an internal
// error (a broken invariant inside aotgrad, a bug to report). Library code never
// aborts. Each layer that catches an Error on its way out may add one line of
// context with Error::add_context ("while exporting module 'ConvBN'").
#pragma once

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
