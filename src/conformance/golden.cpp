#include "conformance/golden.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "aotgrad/ops.h"
#include "support/error.h"
#include "support/json_input.h"

namespace aotgrad::conformance {

namespace {
using nlohmann::json;

// Every read goes through these, so errors say which field of which file is wrong.
struct Reader {
  std::string path;

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    AG_FAIL("golden file '{}': field '{}' {}", path, field, what);
  }
  const json& at(const json& obj, const std::string& key, const std::string& where) const {
    if (!obj.is_object() || !obj.contains(key)) fail(where + key, "is missing");
    return obj.at(key);
  }
  std::string str(const json& obj, const std::string& key, const std::string& where = "") const {
    const json& v = at(obj, key, where);
    if (!v.is_string()) fail(where + key, "must be a string");
    return v.get<std::string>();
  }

  double number(const json& v, const std::string& field) const {
    if (v.is_number()) return v.get<double>();
    if (v.is_string()) {
      const std::string s = v.get<std::string>();
      if (s == "inf") return std::numeric_limits<double>::infinity();
      if (s == "-inf") return -std::numeric_limits<double>::infinity();
      if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
    }
    fail(field, "contains a value that is not a number");
  }

  Tensor tensor(const json& t, const std::string& field) const {
    const json& shape_j = at(t, "shape", field + ".");
    if (!shape_j.is_array()) fail(field + ".shape", "must be a list of ints");
    Shape shape;
    for (const json& d : shape_j) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > uint64_t(INT64_MAX))
        fail(field + ".shape", "must be a list of non-negative ints, but got " + quote_excerpt(shape_j.dump()));
      shape.push_back(d.get<int64_t>());
    }
    try {
      (void)shape_numel(shape);
    } catch (const Error& e) {
      fail(field + ".shape", e.message());
    }
    const std::string dtype = str(t, "dtype", field + ".");
    const json& data = at(t, "data", field + ".");
    if (!data.is_array()) fail(field + ".data", "must be a list");
    if (static_cast<int64_t>(data.size()) != shape_numel(shape))
      fail(field + ".data",
           fmt::format("has {} elements but shape {} needs {}", data.size(), shape_str(shape), shape_numel(shape)));
    if (dtype == "float32" || dtype == "float64") {
      std::vector<double> v;
      for (const json& x : data) v.push_back(number(x, field + ".data"));
      if (dtype == "float64") return Tensor::from_vector<double>(v, shape);
      for (double x : v)
        if (std::isfinite(x) && std::abs(x) > std::numeric_limits<float>::max())
          fail(field + ".data", fmt::format("holds {}, which float32 cannot represent", x));
      // The file holds the shortest decimal that round-trips each float32.
      std::vector<float> f(v.begin(), v.end());
      return Tensor::from_vector<float>(f, shape);
    }
    if (dtype == "int64" || dtype == "int32") {
      std::vector<int64_t> v;
      for (const json& x : data) {
        if (!x.is_number_integer() || (x.is_number_unsigned() && x.get<uint64_t>() > uint64_t(INT64_MAX)))
          fail(field + ".data", "must hold 64-bit integers for dtype " + dtype);
        if (dtype == "int32" && (x.get<int64_t>() < INT32_MIN || x.get<int64_t>() > INT32_MAX))
          fail(field + ".data", fmt::format("holds {}, which int32 cannot represent", x.get<int64_t>()));
        v.push_back(x.get<int64_t>());
      }
      Tensor r = Tensor::from_vector<int64_t>(v, shape);
      return dtype == "int32" ? to(r, DType::Int32) : r;
    }
    if (dtype == "bool") {
      std::vector<bool> v;
      for (const json& x : data) {
        if (!x.is_boolean()) fail(field + ".data", "must hold true/false for dtype bool");
        v.push_back(x.get<bool>());
      }
      return Tensor::from_vector<bool>(v, shape);
    }
    fail(field + ".dtype", "is '" + dtype + "' (expected float32, float64, int64 or bool)");
  }

  nn::NamedTensors named_list(const json& doc, const std::string& key) const {
    const json& list = at(doc, key, "");
    if (!list.is_array()) fail(key, "must be a list");
    nn::NamedTensors out;
    for (size_t i = 0; i < list.size(); ++i) {
      std::string field = fmt::format("{}[{}]", key, i);
      out.emplace_back(str(list[i], "name", field + "."), tensor(list[i], field));
    }
    return out;
  }

  TensorList tensor_list(const json& doc, const std::string& key) const {
    const json& list = at(doc, key, "");
    if (!list.is_array()) fail(key, "must be a list");
    TensorList out;
    for (size_t i = 0; i < list.size(); ++i) out.push_back(tensor(list[i], fmt::format("{}[{}]", key, i)));
    return out;
  }

  // A tolerance must be a number in [0, kMaxTolerance]: "inf" or a huge value would make
  // every comparison pass.
  double tolerance(const json& tol, const char* key) const {
    constexpr double kMaxTolerance = 1.0;
    const json& v = at(tol, key, "tolerance.");
    const std::string field = std::string("tolerance.") + key;
    if (!v.is_number()) fail(field, "must be a number, but got " + quote_excerpt(v.dump()));
    const double x = v.get<double>();
    if (!(x >= 0 && x <= kMaxTolerance)) fail(field, fmt::format("must be in [0, {}], but got {}", kMaxTolerance, x));
    return x;
  }

  // A graph record's node list: name, target, shape (or null) of each node.
  std::vector<GoldenNode> graph_record(const json& record, const std::string& key) const {
    const json& nodes = at(record, "nodes", key + ".");
    if (!nodes.is_array()) fail(key + ".nodes", "must be a list");
    std::vector<GoldenNode> out;
    for (size_t i = 0; i < nodes.size(); ++i) {
      const std::string field = fmt::format("{}.nodes[{}].", key, i);
      GoldenNode n{str(nodes[i], "name", field), str(nodes[i], "target", field), std::nullopt};
      const json& shape = at(nodes[i], "shape", field);
      if (!shape.is_null()) {
        if (!shape.is_array()) fail(field + "shape", "must be a list of ints or null");
        Shape s;
        for (const json& d : shape) {
          if (!d.is_number_unsigned() || d.get<uint64_t>() > uint64_t(kMaxNumel))
            fail(field + "shape", "must be a list of non-negative ints or null");
          s.push_back(d.get<int64_t>());
        }
        n.shape = std::move(s);
      }
      out.push_back(std::move(n));
    }
    return out;
  }

  GoldenInput input(const json& j, const std::string& name, const std::string& field) const {
    const json& rg = at(j, "requires_grad", field + ".");
    if (!rg.is_boolean()) fail(field + ".requires_grad", "must be true or false");
    return {name, tensor(j, field), rg.get<bool>()};
  }
};
}  // namespace

// The case from a parsed document (every field checked).
static GoldenCase parse_golden(const nlohmann::json& doc, const std::string& path);

GoldenCase load_golden(const std::string& path) {
  return parse_golden(read_untrusted_json_file(path, fmt::format("golden file '{}'", path)), path);
}

GoldenCase parse_golden_text(std::string_view text, const std::string& path) {
  return parse_golden(parse_untrusted_json(text, fmt::format("golden file '{}'", path)), path);
}

static GoldenCase parse_golden(const nlohmann::json& doc, const std::string& path) {
  Reader r{path};
  AG_CHECK(doc.is_object(), "golden file '{}': expected a JSON object at the top level", path);
  const json& version = r.at(doc, "format_version", "");
  if (!version.is_number_integer() || version.get<int64_t>() != kGoldenFormatVersion)
    r.fail("format_version",
           fmt::format("is {}, but this build reads version {}", quote_excerpt(version.dump()), kGoldenFormatVersion));
  GoldenCase c;
  c.path = path;
  c.name = r.str(doc, "case");
  const std::string mode = r.str(doc, "mode");
  if (mode != "train" && mode != "eval") r.fail("mode", "must be \"train\" or \"eval\"");
  c.train_mode = mode == "train";
  c.params = r.named_list(doc, "params");
  c.buffers = r.named_list(doc, "buffers");
  const json& inputs = r.at(doc, "inputs", "");
  if (!inputs.is_array()) r.fail("inputs", "must be a list");
  for (size_t i = 0; i < inputs.size(); ++i)
    c.inputs.push_back(r.input(inputs[i], fmt::format("input:{}", i), fmt::format("inputs[{}]", i)));
  const json& kwargs = r.at(doc, "kwargs", "");
  if (!kwargs.is_object()) r.fail("kwargs", "must be an object");
  for (auto it = kwargs.begin(); it != kwargs.end(); ++it)
    c.kwargs.emplace_back(it.key(), r.input(it.value(), "kwarg:" + it.key(), "kwargs." + it.key()));
  c.tangents = r.tensor_list(doc, "tangents");
  c.outputs = r.tensor_list(doc, "outputs");
  const json& grads = r.at(doc, "grads", "");
  if (!grads.is_object()) r.fail("grads", "must be an object");
  for (auto it = grads.begin(); it != grads.end(); ++it) {
    if (it.value().is_null()) continue;
    c.grads.emplace_back(it.key(), r.tensor(it.value(), "grads." + it.key()));
  }
  c.buffers_after = r.named_list(doc, "buffers_after");
  const json& mutated = r.at(doc, "mutated_buffers", "");
  if (!mutated.is_array()) r.fail("mutated_buffers", "must be a list");
  for (const json& m : mutated) {
    if (!m.is_string()) r.fail("mutated_buffers", "must hold names");
    c.mutated_buffers.push_back(m.get<std::string>());
  }
  const json& tol = r.at(doc, "tolerance", "");
  c.rtol = r.tolerance(tol, "rtol");
  c.atol = r.tolerance(tol, "atol");
  if (doc.contains("joint_aten")) c.joint_aten = r.graph_record(doc["joint_aten"], "joint_aten");
  return c;
}

std::vector<std::string> golden_files(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  for (const std::string& p : paths) {
    std::error_code ec;
    AG_CHECK(fs::exists(p, ec), "conformance: '{}' does not exist", p);
    if (!fs::is_directory(p, ec)) {
      out.push_back(p);
      continue;
    }
    std::vector<std::string> found;
    for (const auto& entry : fs::directory_iterator(p, ec))
      if (entry.path().extension() == ".json") found.push_back(entry.path().string());
    std::sort(found.begin(), found.end());
    AG_CHECK(!found.empty(), "conformance: folder '{}' holds no .json golden files", p);
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

}  // namespace aotgrad::conformance
