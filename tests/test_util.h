// Small helpers shared by the test files.
#pragma once

#include <functional>
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

}  // namespace aotgrad::testing
