// Every supported ONNX op type's gradient through the imported graph against float64
// central differences, at the inputs of ONNX's own node tests (libonnx-testdata),
// the model imported in float64.
#include <gtest/gtest.h>

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "aotgrad/autograd.h"
#include "aotgrad/onnx.h"
#include "aotgrad/onnx_backend_test.h"
#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "onnx/model_builder.h"
#include "onnx/tensor_proto.h"
#include "support/error.h"
#include "test_util.h"

namespace aotgrad {
namespace {

namespace fs = std::filesystem;

// Op types whose outputs have no gradient to check: integer or boolean results,
// constants, shapes, and piecewise-constant functions (zero almost everywhere).
const std::set<std::string> kNoGradient = {
    "And",  "ArgMax",      "ArgMin",   "Constant", "ConstantOfShape", "Equal",   "Greater", "GreaterOrEqual",
    "Less", "LessOrEqual", "Not",      "Or",       "Range",           "Shape",   "Size",    "Sign",
    "Xor",  "Cast",        "Identity", "CastLike", "EyeLike",         "Hardmax", "IsInf",   "IsNaN"};

// A test's data file, or an undefined tensor for element types aotgrad lacks.
Tensor read_tensor(const fs::path& p) {
  onnx::TensorProto t;
  if (!t.ParseFromString(testing::read_file(p.string()))) return Tensor();
  try {
    return onnx_io::tensor_from_proto(t, p.parent_path().string(), p.string());
  } catch (const Error&) {
    return Tensor();
  }
}

// The op types a model uses (from its nodes).
std::set<std::string> op_types_of(const fs::path& model) {
  onnx::ModelProto m;
  std::set<std::string> out;
  if (!m.ParseFromString(testing::read_file(model.string()))) return out;
  for (const auto& n : m.graph().node()) out.insert(n.op_type());
  return out;
}

enum class Outcome { Checked, Skipped, Mismatch };

// The central difference, or at a kink (an input on a relu's zero, a clip bound, a
// tie of a max) any value between the one-sided derivatives.
bool derivative_matches(double got, double fm, double f0, double fp, double eps) {
  const double central = (fp - fm) / (2 * eps), right = (fp - f0) / eps, left = (f0 - fm) / eps;
  // A NaN anywhere in the outputs (x ** y of a negative x) leaves nothing to compare.
  if (!std::isfinite(f0) || !std::isfinite(central)) return true;
  if (std::abs(central - got) <= 1e-5 + 1e-4 * std::abs(central)) return true;
  const double slack = 1e-4 + 1e-3 * std::max(std::abs(left), std::abs(right));
  return got >= std::min(left, right) - slack && got <= std::max(left, right) + slack;
}

// d<outputs, cotangent>/d inputs by autograd against central differences, element by
// element; at a kink, any value between the one-sided derivatives is accepted.
Outcome compare_with_differences(onnx_io::OnnxModule& module, const std::vector<std::string>& diff_names,
                                 const TensorList& diff_values, std::string* why) {
  onnx_io::OnnxModule* m = &module;
  auto run = [&](const TensorList& xs) {
    nn::Kwargs kw;
    for (size_t i = 0; i < xs.size(); ++i) kw.emplace_back(diff_names[i], pytree::Value(xs[i]));
    TensorList outs;
    for (const IValue& v : pytree::flatten((*m)({}, kw)).first) outs.push_back(v.to_tensor());
    return outs;
  };
  TensorList leaves;
  for (const Tensor& t : diff_values) leaves.push_back(clone(t).set_requires_grad(true));
  TensorList outs = run(leaves), diff_outs, cotangents;
  Generator g(7);
  for (const Tensor& o : outs)
    if (o.is_floating_point() && o.requires_grad()) {
      diff_outs.push_back(o);
      cotangents.push_back(randn(o.sizes(), DType::Float64, &g));
    }
  if (diff_outs.empty()) return Outcome::Skipped;
  TensorList analytic = autograd::grad(diff_outs, leaves, cotangents, /*allow_unused=*/true);
  autograd::NoGradGuard no_grad;
  auto contract = [&](const TensorList& xs) {
    TensorList o = run(xs);
    double s = 0;
    size_t c = 0;
    for (const Tensor& t : o) {
      if (!t.is_floating_point() || c >= cotangents.size() || t.sizes() != cotangents[c].sizes()) continue;
      std::vector<double> a = t.to_vector<double>(), b = cotangents[c++].to_vector<double>();
      for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    }
    return s;
  };
  const double eps = 1e-6, f0 = contract(diff_values);
  for (size_t li = 0; li < diff_values.size(); ++li) {
    std::vector<double> base = diff_values[li].to_vector<double>();
    std::vector<double> got =
        analytic[li].defined() ? analytic[li].to_vector<double>() : std::vector<double>(base.size(), 0.0);
    for (size_t e = 0; e < base.size(); ++e) {
      TensorList xs = diff_values;
      std::vector<double> plus = base, minus = base;
      plus[e] += eps;
      minus[e] -= eps;
      xs[li] = Tensor::from_vector<double>(plus, diff_values[li].sizes());
      const double fp = contract(xs);
      xs[li] = Tensor::from_vector<double>(minus, diff_values[li].sizes());
      const double fm = contract(xs);
      if (!derivative_matches(got[e], fm, f0, fp, eps)) {
        *why = fmt::format("input '{}' element {}: analytic {:.9g}, numeric {:.9g}", diff_names[li], e, got[e],
                           (fp - fm) / (2 * eps));
        return Outcome::Mismatch;
      }
    }
  }
  return Outcome::Checked;
}

// Imports the test's model in float64 (float inputs of rank > 0 differentiable, the
// rest constants), and compares d<out, cotangent>/d inputs with central differences.
Outcome gradcheck(const fs::path& dir, std::string* why) {
  onnx::ModelProto proto;
  if (!proto.ParseFromString(testing::read_file((dir / "model.onnx").string()))) return Outcome::Skipped;
  onnx_io::ImportOptions options;
  options.float64 = true;
  std::vector<std::string> diff_names;
  TensorList diff_values;
  int k = 0;
  for (const auto& in : proto.graph().input()) {
    Tensor t = read_tensor(dir / "test_data_set_0" / ("input_" + std::to_string(k++) + ".pb"));
    if (!t.defined()) return Outcome::Skipped;
    if (t.is_floating_point() && t.dim() > 0) {
      diff_names.push_back(in.name());
      diff_values.push_back(to(t, DType::Float64));
      options.input_shapes[in.name()] = t.sizes();
    } else {
      options.constant_inputs[in.name()] = t;
    }
  }
  int64_t elements = 0;
  for (const Tensor& t : diff_values) elements += t.numel();
  if (diff_values.empty() || elements > 4000) return Outcome::Skipped;
  std::shared_ptr<onnx_io::OnnxModule> m;
  try {
    m = onnx_io::load((dir / "model.onnx").string(), options);
  } catch (const Error&) {
    return Outcome::Skipped;  // unsupported here (the backend suite reports why)
  }
  return compare_with_differences(*m, diff_names, diff_values, why);
}

// A test folder (model.onnx, test_data_set_0/input_0.pb): the nodes `nodes` adds,
// from input "x" (random floats of `dims`) to output "y".
std::string write_case(const std::string& name, const std::vector<int64_t>& dims,
                       const std::function<void(testing::ModelBuilder&)>& nodes) {
  const fs::path dir = fs::path(::testing::TempDir()) / "aotgrad_gradcheck" / name;
  fs::create_directories(dir / "test_data_set_0");
  testing::ModelBuilder b(14);
  b.input("x", dims).output("y", {});
  nodes(b);
  std::ofstream(dir / "model.onnx", std::ios::binary) << b.bytes();
  Generator g(11);
  Tensor x = randn(dims, DType::Float32, &g);
  onnx::TensorProto t;
  for (int64_t d : dims) t.add_dims(d);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (float v : x.to_vector<float>()) t.add_float_data(v);
  std::ofstream(dir / "test_data_set_0" / "input_0.pb", std::ios::binary) << t.SerializeAsString();
  return dir.string();
}

std::vector<std::pair<std::string, std::string>> hand_made_cases() {
  auto constant_indices = [](testing::ModelBuilder& b, std::vector<int64_t> dims, std::vector<int64_t> values) {
    onnx::AttributeProto* v = b.node("Constant", {}, {"idx"}, "/idx").add_attribute();
    v->set_name("value");
    v->set_type(onnx::AttributeProto::TENSOR);
    v->mutable_t()->set_data_type(onnx::TensorProto::INT64);
    for (int64_t d : dims) v->mutable_t()->add_dims(d);
    for (int64_t x : values) v->mutable_t()->add_int64_data(x);
  };
  return {
      {"Trilu", write_case("trilu_upper", {3, 4}, [](testing::ModelBuilder& b) { b.node("Trilu", {"x"}, {"y"}); })},
      {"Trilu", write_case("trilu_lower", {2, 3, 4},
                           [](testing::ModelBuilder& b) {
                             testing::set_attr(b.node("Trilu", {"x"}, {"y"}), "upper", int64_t{0});
                           })},
      {"GatherND", write_case("gather_nd", {3, 4},
                              [&](testing::ModelBuilder& b) {
                                // rows 2 and 0, then element (1, 3): a row gathered twice accumulates.
                                constant_indices(b, {3, 1}, {2, 0, 2});
                                b.node("GatherND", {"x", "idx"}, {"y"});
                              })},
  };
}

TEST(OnnxGradients, EverySupportedOpTypeMatchesFiniteDifferences) {
  const fs::path suite = fs::path(AOTGRAD_ONNX_TESTDATA) / "node";
  ASSERT_TRUE(fs::is_directory(suite)) << suite << " is missing: install libonnx-testdata (make deps)";
  std::map<std::string, int> checked;  // op type -> tests checked
  std::vector<std::string> mismatches;
  for (const std::string& dir : onnx_io::backend_test_dirs(suite.string())) {
    const std::string name = fs::path(dir).filename().string();
    std::set<std::string> ops = op_types_of(fs::path(dir) / "model.onnx");
    if (ops.size() != 1 || kNoGradient.count(*ops.begin())) continue;
    std::string why;
    Outcome o = gradcheck(dir, &why);
    if (o == Outcome::Checked) checked[*ops.begin()]++;
    if (o == Outcome::Mismatch) mismatches.push_back(name + ": " + why);
  }
  // Op types whose node tests have no float input: small models made here.
  for (const auto& [op, dir] : hand_made_cases()) {
    std::string why;
    Outcome o = gradcheck(dir, &why);
    if (o == Outcome::Checked) checked[op]++;
    if (o == Outcome::Mismatch) mismatches.push_back(dir + ": " + why);
  }
  for (const std::string& m : mismatches) ADD_FAILURE() << m;
  std::vector<std::string> unchecked;
  for (const std::string& op : onnx_io::supported_op_types())
    if (!kNoGradient.count(op) && !checked.count(op)) unchecked.push_back(op);
  EXPECT_TRUE(unchecked.empty()) << "op types no node test checked: " << fmt::format("{}", fmt::join(unchecked, ", "));
  int total = 0;
  for (const auto& [op, n] : checked) total += n;
  std::printf("gradient-checked %d node tests over %zu op types\n", total, checked.size());
}

}  // namespace
}  // namespace aotgrad
