// Running ONNX's backend tests (include/aotgrad/onnx_backend_test.h).
#include "aotgrad/onnx_backend_test.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "aotgrad/onnx.h"
#include "aotgrad/ops.h"
#include "onnx/convert.h"
#include "onnx/tensor_proto.h"

namespace aotgrad::onnx_io {

namespace fs = std::filesystem;

namespace {

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  AG_CHECK(in.good(), "{}: cannot be read", p.string());
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// Error messages the importer gives for what it does not support (every converter's
// ctx.unsupported(), support_problems(), element types, the opset range), as opposed
// to wrong results or broken invariants.
bool is_unsupported(const Error& e) {
  const std::string& m = e.message();
  for (const char* mark : {"unsupported", "not supported", "(aotgrad has float32", "outside the range this build reads",
                           "domain is supported", "is not a tensor (sequences"})
    if (m.find(mark) != std::string::npos) return true;
  for (const std::string& c : e.context())
    if (c.rfind("unsupported", 0) == 0) return true;
  return false;
}

struct DataSet {
  std::vector<std::pair<std::string, Tensor>> inputs;  // by graph input name
  TensorList outputs;
};

// The numbered .pb files `prefix`_0, _1, … of a data set folder.
std::vector<onnx::TensorProto> read_protos(const fs::path& dir, const std::string& prefix) {
  std::vector<onnx::TensorProto> out;
  for (int i = 0;; ++i) {
    fs::path p = dir / fmt::format("{}_{}.pb", prefix, i);
    if (!fs::exists(p)) break;
    onnx::TensorProto t;
    const std::string bytes = read_bytes(p);
    AG_CHECK(t.ParseFromString(bytes), "unsupported: {} is not a TensorProto (sequence or optional data)", p.string());
    out.push_back(std::move(t));
  }
  return out;
}

// |got - want| <= atol + rtol |want| (NaN where NaN is expected); exact for integers.
std::optional<std::string> compare(const std::string& what, const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype()) return fmt::format("{}: got {}, expected {}", what, got.describe(), want.describe());
  if (got.sizes() != want.sizes()) return fmt::format("{}: got {}, expected {}", what, got.describe(), want.describe());
  std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i) {
    const bool both_nan = std::isnan(g[i]) && std::isnan(w[i]);
    const bool ok = got.is_floating_point() ? both_nan || (g[i] == w[i]) ||
                                                  std::abs(g[i] - w[i]) <= kBackendAtol + kBackendRtol * std::abs(w[i])
                                            : g[i] == w[i];
    if (!ok) return fmt::format("{}: element {} is {:.9g}, expected {:.9g}", what, i, g[i], w[i]);
  }
  return std::nullopt;
}

void run(const std::string& dir, BackendTestResult& r) {
  const fs::path root(dir);
  std::shared_ptr<const Model> model = read_model(read_bytes(root / "model.onnx"), (root / "model.onnx").string(), dir);
  if (std::vector<std::string> problems = support_problems(*model); !problems.empty()) {
    r.status = BackendTestResult::Status::Unsupported;
    r.reason = problems.front();
    return;
  }
  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  AG_CHECK(!sets.empty(), "{}: no test_data_set_* folder", dir);
  for (const fs::path& set : sets) {
    std::vector<onnx::TensorProto> in_protos = read_protos(set, "input"), out_protos = read_protos(set, "output");
    AG_CHECK(in_protos.size() == model->inputs.size(), "{}: {} inputs for a model of {}", set.string(),
             in_protos.size(), model->inputs.size());
    ImportOptions options;
    nn::Args args;
    for (size_t i = 0; i < in_protos.size(); ++i) {
      const std::string& name = model->inputs[i].name;
      Tensor t = tensor_from_proto(in_protos[i], set.string(), "input '" + name + "'");
      // Integer and bool inputs (shapes, axes, indices, masks) and 0-d floats
      // (a Range's bounds, a Dropout ratio, a pad value) become constants.
      if (t.is_floating_point() && t.dim() > 0) {
        options.input_shapes[name] = t.sizes();
        args.emplace_back(t);
      } else {
        options.constant_inputs[name] = t;
      }
    }
    auto module = std::make_shared<OnnxModule>(model, options);
    auto [leaves, spec] = pytree::flatten(module->forward(args, {}));
    AG_CHECK(leaves.size() == out_protos.size(), "the model gave {} outputs, the data set has {}", leaves.size(),
             out_protos.size());
    for (size_t k = 0; k < leaves.size(); ++k) {
      Tensor want = tensor_from_proto(out_protos[k], set.string(), fmt::format("output {}", k));
      if (auto diff = compare(fmt::format("{} output {} ('{}')", set.filename().string(), k, model->outputs[k].name),
                              leaves[k].to_tensor(), want)) {
        r.status = BackendTestResult::Status::Failed;
        r.reason = *diff;
        return;
      }
    }
  }
  r.status = BackendTestResult::Status::Passed;
}

}  // namespace

BackendTestResult run_backend_test(const std::string& dir) {
  BackendTestResult r;
  r.name = fs::path(dir).filename().string();
  try {
    run(dir, r);
  } catch (const Error& e) {
    r.status = is_unsupported(e) ? BackendTestResult::Status::Unsupported : BackendTestResult::Status::Failed;
    r.reason = e.what();
  } catch (const std::exception& e) {
    r.status = BackendTestResult::Status::Failed;
    r.reason = std::string("internal error: ") + e.what();
  }
  return r;
}

std::vector<std::string> backend_test_dirs(const std::string& path) {
  if (fs::exists(fs::path(path) / "model.onnx")) return {path};
  std::error_code ec;
  AG_CHECK(fs::is_directory(path, ec), "{}: not a folder of ONNX backend tests", path);
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(path))
    if (e.is_directory() && fs::exists(e.path() / "model.onnx")) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace aotgrad::onnx_io
