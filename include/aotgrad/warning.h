// Warnings: something the user should know that is not an error (Python's
// warnings.warn). They go to a handler, by default one line on standard error;
// tests and embedding programs install their own.
#pragma once

#include <functional>
#include <string>

namespace aotgrad {

using WarningHandler = std::function<void(const std::string& message)>;

/// Installs `handler` (null: the default, standard error) and returns the previous one.
WarningHandler set_warning_handler(WarningHandler handler);
/// Sends `message` to the handler.
void warn(const std::string& message);
/// Sends `message` the first time this process warns under `key`, never again.
void warn_once(const std::string& key, const std::string& message);

}  // namespace aotgrad
