#include "conformance/reference_model.h"

#include <cmath>
#include <filesystem>

#include "aotgrad/autograd.h"
#include "aotgrad/compile.h"
#include "aotgrad/export.h"
#include "aotgrad/onnx.h"
#include "conformance/golden_reader.h"

namespace aotgrad::conformance {

bool is_reference_model_file(const std::string& path) {
  const std::string suffix = ".ref.json";
  return path.size() > suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
}

namespace {

// ||got - want|| / ||want||, in double.
double rel_l2(const Tensor& got, const Tensor& want) {
  std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  double num = 0, den = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    num += (g[i] - w[i]) * (g[i] - w[i]);
    den += w[i] * w[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

// One tensor against the file's suggested check for it; `max_err` collects the
// figure of merit printed on success.
std::optional<std::string> check_tensor(const detail::Reader& reader, const nlohmann::json& suggested,
                                        const std::string& key, const Tensor& got, const Tensor& want,
                                        std::string& summary) {
  if (got.sizes() != want.sizes()) return fmt::format("{}: got {}, expected {}", key, got.describe(), want.describe());
  const nlohmann::json& s = reader.at(suggested, key, "tolerance.suggested.");
  const std::string check = reader.str(s, "check", "tolerance.suggested." + key + ".");
  if (check == "rel_l2") {
    const double max = reader.number(reader.at(s, "max", key + "."), key + ".max");
    const double err = rel_l2(got, want);
    summary += fmt::format("; {} rel L2 {:.2g} (max {:.2g})", key, err, max);
    if (!(err <= max)) return fmt::format("{}: relative L2 error {:.3g}, more than {:.3g}", key, err, max);
    return std::nullopt;
  }
  const double rtol = reader.number(reader.at(s, "rtol", key + "."), key + ".rtol");
  const double atol = reader.number(reader.at(s, "atol", key + "."), key + ".atol");
  double max_err = 0;
  auto e = compare_tensors(key, got, want, rtol, atol, &max_err);
  summary += fmt::format("; {} max |err| {:.2g} (atol {:.2g})", key, max_err, atol);
  return e;
}

// A gradient stored in part: rows [0, k) compared as the file suggests, and the full
// tensor's sum of squares against the stored one, within the same relative bound.
std::optional<std::string> check_partial(const detail::Reader& reader, const nlohmann::json& suggested,
                                         const std::string& key, const nlohmann::json& entry, const Tensor& got,
                                         std::string& summary) {
  const nlohmann::json& rows_j = reader.at(entry, "stored_rows", key + ".");
  if (!rows_j.is_array() || rows_j.size() != 2 || !rows_j[1].is_number_unsigned())
    reader.fail(key + ".stored_rows", "must be [0, k]");
  const int64_t rows = rows_j[1].get<int64_t>();
  if (rows > got.size(0)) reader.fail(key + ".stored_rows", "reaches past the gradient's first dimension");
  nlohmann::json part = entry;
  nlohmann::json shape = nlohmann::json::array();
  shape.push_back(static_cast<uint64_t>(rows));
  for (int64_t d = 1; d < got.dim(); ++d) shape.push_back(static_cast<uint64_t>(got.size(d)));
  part["shape"] = shape;
  Tensor want = reader.tensor(part, key);
  Tensor got_rows = contiguous(slice(got, 0, 0, rows));
  if (auto e = check_tensor(reader, suggested, key, got_rows, want, summary)) return e;
  const nlohmann::json& stats = reader.at(entry, "full_stats", key + ".");
  const double want_sq = reader.number(reader.at(stats, "sq_sum", key + ".full_stats."), key + ".full_stats.sq_sum");
  double got_sq = 0;
  for (double v : got.to_vector<double>()) got_sq += v * v;
  // ||g||^2 against ||w||^2: a relative L2 error e moves it by at most about 2e.
  const nlohmann::json& s = reader.at(suggested, key, "tolerance.suggested.");
  const double bound = s.contains("max") ? 2 * reader.number(s["max"], key + ".max") + 1e-6 : 1e-3;
  const double rel = std::abs(got_sq - want_sq) / std::max(want_sq, 1e-30);
  summary += fmt::format(" (full sum of squares rel. diff {:.2g})", rel);
  if (!(rel <= bound))
    return fmt::format("{}: the full gradient's sum of squares is {:.9g}, expected {:.9g}", key, got_sq, want_sq);
  return std::nullopt;
}

}  // namespace

CaseResult check_reference_model(const std::string& path, bool compiled) {
  detail::Reader reader{path};
  const nlohmann::json doc = read_untrusted_json_file(path, fmt::format("model reference '{}'", path));
  CaseResult r{reader.str(doc, "model"), false, ""};
  const std::string onnx_file = (std::filesystem::path(path).parent_path() / reader.str(doc, "onnx_file")).string();
  Tensor input = reader.tensor(reader.at(doc, "input", ""), "input");
  Tensor tangent = reader.tensor(reader.at(doc, "tangent", ""), "tangent");
  Tensor want_out = reader.tensor(reader.at(doc, "output", ""), "output");
  const nlohmann::json& suggested = reader.at(reader.at(doc, "tolerance", ""), "suggested", "tolerance.");
  const nlohmann::json& grads = reader.at(doc, "grads", "");
  if (!grads.is_object()) reader.fail("grads", "must be an object");

  std::shared_ptr<onnx_io::OnnxModule> module = onnx_io::load(onnx_file);
  module->train(true);
  const std::string input_name = reader.str(doc, "input_name");
  nn::Kwargs kwargs{{input_name, pytree::Value(input)}};
  Tensor out;
  if (compiled) {
    auto joint = exporting::aot_export_joint_with_descriptors(*module, {}, kwargs);
    auto fn = compile::aot_compile_joint_with_descriptors(joint);
    out = pytree::flatten(fn.call_module(*module, {}, kwargs)).first.at(0).to_tensor();
  } else {
    out = pytree::flatten((*module)({}, kwargs)).first.at(0).to_tensor();
  }
  std::string summary = compiled ? "compiled" : "eager";
  if (auto e = check_tensor(reader, suggested, "output", out, want_out, summary)) {
    r.detail = *e;
    return r;
  }
  nn::NamedTensors params = module->named_parameters();
  TensorList wrt;
  std::vector<std::string> names;
  for (const auto& [name, entry] : grads.items()) {
    const Tensor* p = nullptr;
    for (const auto& [n, t] : params)
      if (n == name) p = &t;
    if (!p) reader.fail("grads." + name, "names no parameter of the model");
    wrt.push_back(*p);
    names.push_back(name);
  }
  TensorList got = autograd::grad({out}, wrt, {tangent});
  for (size_t i = 0; i < names.size(); ++i) {
    const nlohmann::json& entry = grads[names[i]];
    const std::string key = "grad " + names[i];
    std::optional<std::string> e =
        entry.contains("stored_rows")
            ? check_partial(reader, suggested, key, entry, got[i], summary)
            : check_tensor(reader, suggested, key, got[i], reader.tensor(entry, key), summary);
    if (e) {
      r.detail = *e;
      return r;
    }
  }
  r.passed = true;
  r.detail = summary;
  return r;
}

}  // namespace aotgrad::conformance
