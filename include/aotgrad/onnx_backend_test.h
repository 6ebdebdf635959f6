// ONNX's own backend test suite (Debian libonnx-testdata) run through the importer:
// each test is a folder with model.onnx and test_data_set_*/{input,output}_*.pb.
#pragma once

#include <string>
#include <vector>

namespace aotgrad::onnx_io {

struct BackendTestResult {
  enum class Status { Passed, Failed, Unsupported };
  std::string name;  // the test folder's name
  Status status = Status::Failed;
  /// Why it did not pass: the unsupported op type / attribute / element type, or
  /// which output differed and by how much.
  std::string reason;
};

/// ONNX's backend tolerance: |got - want| <= atol + rtol |want|.
inline constexpr double kBackendRtol = 1e-3;
inline constexpr double kBackendAtol = 1e-7;

/// Runs one test folder: imports model.onnx with its integer and bool inputs bound
/// as constants (they are shapes, axes and indices), runs every data set eagerly and
/// compares each output. A test that needs anything the importer does not support is
/// Unsupported, with the reason; every other difference is a failure.
BackendTestResult run_backend_test(const std::string& dir);

/// The test folders under `path`: itself if it holds model.onnx, else its
/// subfolders that do, in name order.
std::vector<std::string> backend_test_dirs(const std::string& path);

}  // namespace aotgrad::onnx_io
