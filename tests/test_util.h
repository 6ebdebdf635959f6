// Small helpers shared by the test files.
#pragma once

#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "aotgrad/error.h"

namespace aotgrad::testing {

/// The message of the aotgrad::Error that `f` throws, or "" if it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

/// The whole content of a file ("" if it cannot be read).
inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace aotgrad::testing
