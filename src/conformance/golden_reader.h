// Reading golden files field by field (internal to the conformance layer): every
// read checks presence and type, so errors name the file and the field.
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "aotgrad/nn.h"
#include "aotgrad/ops.h"
#include "conformance/golden.h"
#include "support/error.h"
#include "support/json_input.h"

namespace aotgrad::conformance::detail {

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

}  // namespace aotgrad::conformance::detail
