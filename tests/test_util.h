// Small helpers shared by the test files.
#pragma once

#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

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

/// A path in the test temporary folder that no other test uses: ctest runs the tests
/// of one binary as parallel processes, so a fixed name would be raced for.
inline std::string own_temp_path(const std::string& name) {
  const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string owner = test != nullptr ? std::string(test->test_suite_name()) + "." + test->name() : "no_test";
  return ::testing::TempDir() + "/" + owner + "." + name;
}

/// The whole content of a file ("" if it cannot be read).
inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

/// torch._dynamo.testing.normalize_gm: a printed graph without the lines that are only
/// a comment (stack-trace summaries, whose seq_nr and file lines vary), trailing
/// spaces stripped.
inline std::string normalize_gm(const std::string& code) {
  std::istringstream in(code);
  std::string line, out;
  while (std::getline(in, line)) {
    const size_t first = line.find_first_not_of(' ');
    if (first != std::string::npos && line[first] == '#') continue;
    line.erase(line.find_last_not_of(' ') + 1);
    out += line + "\n";
  }
  return out;
}

}  // namespace aotgrad::testing
