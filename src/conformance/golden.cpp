#include "conformance/golden.h"

#include "conformance/golden_reader.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "aotgrad/ops.h"
#include "support/error.h"
#include "support/json_input.h"

namespace aotgrad::conformance {

using detail::Reader;
using nlohmann::json;

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
