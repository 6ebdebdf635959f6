#include "aotgrad/warning.h"

#include <cstdio>
#include <mutex>
#include <set>

namespace aotgrad {

namespace {
std::mutex g_mutex;
WarningHandler g_handler;
std::set<std::string> g_warned;

void to_stderr(const std::string& message) {
  std::fprintf(stderr, "aotgrad warning: %s\n", message.c_str());
}
}  // namespace

WarningHandler set_warning_handler(WarningHandler handler) {
  std::lock_guard<std::mutex> lock(g_mutex);
  WarningHandler prev = std::move(g_handler);
  g_handler = std::move(handler);
  return prev;
}

void warn(const std::string& message) {
  WarningHandler handler;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    handler = g_handler;
  }
  if (handler)
    handler(message);
  else
    to_stderr(message);
}

void warn_once(const std::string& key, const std::string& message) {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_warned.insert(key).second) return;
  }
  warn(message);
}

}  // namespace aotgrad
