// NaN, +-Inf, +-0 and ordinary values through the kernels, against what PyTorch
// computes (tests/data/special_values.json, written by tools/oracles/special_values.py
// with PyTorch 1.13). A kernel that turns NaN into a number, or gets an infinity's
// sign or a NaN-propagating reduction wrong, fails here by op name.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "aotgrad/ops.h"
#include "ops/dispatch.h"
#include "ops/registry.h"

namespace aotgrad {
namespace {
using nlohmann::json;

double value_of(const json& v) {
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
    return s == "inf" ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
  }
  if (v.is_boolean()) return v.get<bool>();
  return v.get<double>();
}

Tensor tensor_of(const json& j) {
  std::vector<double> values;
  for (const json& v : j["tensor"]) values.push_back(value_of(v));
  const Shape shape = j["shape"].get<Shape>();
  const std::string dtype = j["dtype"].get<std::string>();
  if (dtype == "float32") return Tensor::from_vector<float>(std::vector<float>(values.begin(), values.end()), shape);
  if (dtype == "float64") return Tensor::from_vector<double>(values, shape);
  if (dtype == "int64") return Tensor::from_vector<int64_t>(std::vector<int64_t>(values.begin(), values.end()), shape);
  std::vector<bool> b;
  for (double x : values) b.push_back(x != 0);
  return Tensor::from_vector<bool>(b, shape);
}

IValue arg_of(const json& j) {
  if (j.is_null()) return IValue();
  if (j.is_boolean()) return IValue(j.get<bool>());
  if (j.is_number_integer()) return IValue(j.get<int64_t>());
  if (j.is_string()) return IValue(j.get<std::string>());
  if (j.contains("tensor")) return IValue(tensor_of(j));
  if (j.contains("float")) return IValue(value_of(j["float"]));
  return IValue(j["ints"].get<IntList>());
}

json load_cases() {
  std::ifstream in(std::string(AOTGRAD_TEST_DATA) + "/special_values.json");
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str())["cases"];
}

// Same NaN-ness, exact infinities, finite values within a float32-sized tolerance
// (the vectorised exp, erf and tanh are within a few ulps). The sign of zero is not compared.
std::string mismatch(const Tensor& got, const Tensor& want) {
  if (got.sizes() != want.sizes() || got.dtype() != want.dtype())
    return fmt::format("got {}, expected {}", got.describe(), want.describe());
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i) {
    const bool ok = std::isnan(w[i])   ? std::isnan(g[i])
                    : std::isinf(w[i]) ? g[i] == w[i]
                                       : std::abs(g[i] - w[i]) <= 1e-6 + 2e-6 * std::abs(w[i]);
    if (!ok) return fmt::format("element {}: got {}, PyTorch gives {}", i, g[i], w[i]);
  }
  return "";
}

TEST(SpecialValues, KernelsMatchPyTorchOnNanInfAndZero) {
  const json cases = load_cases();
  ASSERT_GT(cases.size(), 100u);
  int checked = 0;
  for (const json& c : cases) {
    const std::string name = c["op"].get<std::string>();
    const ops::OpInfo* op = ops::find_op("aten." + name + (name.find('.') == std::string::npos ? ".default" : ""));
    ASSERT_NE(op, nullptr) << name;
    Args args;
    for (const json& a : c["args"]) args.push_back(arg_of(a));
    for (const json& kv : c["kwargs"]) {
      const int idx = op->schema.arg_index(kv[0].get<std::string>());
      ASSERT_GE(idx, 0) << name;
      ops::normalize_args(*op, args);  // fill defaults up to the keyword's slot
      args.resize(std::max(args.size(), static_cast<size_t>(idx) + 1));
      args[static_cast<size_t>(idx)] = arg_of(kv[1]);
    }
    const std::string where = fmt::format("{} on {}", name, c["args"][0].dump().substr(0, 60));
    TensorList outs = ops::flatten_outputs(ops::call(op->id, args));
    ASSERT_EQ(outs.size(), c["outputs"].size()) << where;
    for (const json& i : c["compare"])
      EXPECT_EQ(mismatch(outs[i.get<size_t>()], tensor_of(c["outputs"][i.get<size_t>()])), "")
          << where << ", output " << i;
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(cases.size()));
}

}  // namespace
}  // namespace aotgrad

// The vectorised float exp (ops/cpu/fast_math.h) clamps before converting to an
// integer exponent; NaN must pass through without reaching that conversion (UBSan
// caught it: the ONNX fuzzer's tests/data/onnx/fuzz-exp-of-nan.onnx).
TEST(SpecialValues, FloatExpOfNanIsNanWithoutUndefinedBehaviour) {
  std::vector<float> in(64, std::numeric_limits<float>::quiet_NaN());
  in[1] = 100.0f;
  in[2] = -100.0f;
  std::vector<float> out = aotgrad::exp(aotgrad::Tensor::from_vector<float>(in, {64})).to_vector<float>();
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_TRUE(std::isinf(out[1]));
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_TRUE(std::isnan(out[63]));
}
