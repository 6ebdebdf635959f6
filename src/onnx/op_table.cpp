// The op table: every ONNX op type the importer reads, one row each — the opset its
// semantics start at, its converter (convert_*.cpp) and every attribute the ONNX
// specification defines for it. An attribute not listed is rejected at import; a
// listed attribute's unsupported values are rejected by the converter, by name.
#include <algorithm>
#include <map>
#include <set>

#include "aotgrad/autograd.h"
#include "onnx/convert.h"
#include "ops/dispatch.h"

namespace aotgrad::onnx_io {

static const std::vector<OpRow> kRows = {
    // elementwise (convert_elementwise.cpp)
    {"Abs", 6, convert_unary, {}},
    {"Neg", 6, convert_unary, {}},
    {"Exp", 6, convert_unary, {}},
    {"Log", 6, convert_unary, {}},
    {"Sqrt", 6, convert_unary, {}},
    {"Sin", 7, convert_unary, {}},
    {"Cos", 7, convert_unary, {}},
    {"Tanh", 6, convert_unary, {}},
    {"Sigmoid", 6, convert_unary, {}},
    {"Erf", 9, convert_unary, {}},
    {"Relu", 6, convert_unary, {}},
    {"Reciprocal", 6, convert_unary, {}},
    {"Sign", 9, convert_unary, {}},
    {"Not", 1, convert_unary, {}},
    {"Softsign", 1, convert_unary, {}},
    {"Sinh", 9, convert_unary, {}},
    {"Cosh", 9, convert_unary, {}},
    {"Tan", 7, convert_unary, {}},
    {"IsNaN", 9, convert_unary, {}},
    {"IsInf", 10, convert_is_inf, {"detect_negative", "detect_positive"}},
    {"Shrink", 9, convert_shrink, {"bias", "lambd"}},
    {"CastLike", 15, convert_cast_like, {"saturate"}},
    {"Softplus", 1, convert_unary, {}},
    {"Add", 1, convert_binary, {"broadcast", "axis"}},
    {"Sub", 1, convert_binary, {"broadcast", "axis"}},
    {"Mul", 1, convert_binary, {"broadcast", "axis"}},
    {"Div", 1, convert_binary, {"broadcast", "axis"}},
    {"Equal", 1, convert_binary, {"broadcast", "axis"}},
    {"Greater", 1, convert_binary, {"broadcast", "axis"}},
    {"Less", 1, convert_binary, {"broadcast", "axis"}},
    {"GreaterOrEqual", 12, convert_binary, {}},
    {"LessOrEqual", 12, convert_binary, {}},
    {"And", 1, convert_binary, {"broadcast", "axis"}},
    {"Or", 1, convert_binary, {"broadcast", "axis"}},
    {"Xor", 1, convert_binary, {"broadcast", "axis"}},
    {"Max", 6, convert_variadic, {}},
    {"Min", 6, convert_variadic, {}},
    {"Sum", 6, convert_variadic, {}},
    {"Mean", 6, convert_variadic, {}},
    {"Pow", 1, convert_pow, {"broadcast", "axis"}},
    {"Where", 9, convert_where, {}},
    {"Cast", 6, convert_cast, {"to", "saturate"}},
    {"Clip", 6, convert_clip, {"min", "max"}},
    {"LeakyRelu", 6, convert_activation, {"alpha"}},
    {"Elu", 6, convert_activation, {"alpha"}},
    {"Selu", 6, convert_activation, {"alpha", "gamma"}},
    {"Celu", 12, convert_activation, {"alpha"}},
    {"ThresholdedRelu", 10, convert_activation, {"alpha"}},
    {"HardSigmoid", 6, convert_activation, {"alpha", "beta"}},
    {"HardSwish", 14, convert_activation, {}},
    {"PRelu", 6, convert_prelu, {}},
    {"Identity", 1, convert_identity, {}},
    {"Dropout", 6, convert_dropout, {"ratio", "seed", "is_test"}},
    // reductions, softmax and losses (convert_reduce.cpp)
    {"ReduceSum", 1, convert_reduce, {"axes", "keepdims", "noop_with_empty_axes"}},
    {"ReduceMean", 1, convert_reduce, {"axes", "keepdims"}},
    {"ReduceMax", 1, convert_reduce, {"axes", "keepdims"}},
    {"ReduceMin", 1, convert_reduce, {"axes", "keepdims"}},
    {"ReduceProd", 1, convert_reduce, {"axes", "keepdims"}},
    {"ReduceL1", 1, convert_reduce, {"axes", "keepdims"}},
    {"ReduceL2", 1, convert_reduce, {"axes", "keepdims"}},
    {"ReduceSumSquare", 1, convert_reduce, {"axes", "keepdims"}},
    {"ReduceLogSum", 1, convert_reduce, {"axes", "keepdims"}},
    {"ReduceLogSumExp", 1, convert_reduce, {"axes", "keepdims"}},
    {"ArgMax", 1, convert_arg_reduce, {"axis", "keepdims", "select_last_index"}},
    {"ArgMin", 1, convert_arg_reduce, {"axis", "keepdims", "select_last_index"}},
    {"Softmax", 1, convert_softmax, {"axis"}},
    {"LogSoftmax", 1, convert_softmax, {"axis"}},
    {"Hardmax", 1, convert_hardmax, {"axis"}},
    {"MeanVarianceNormalization", 9, convert_mean_variance_normalization, {"axes"}},
    {"SoftmaxCrossEntropyLoss", 12, convert_cross_entropy, {"ignore_index", "reduction"}},
    {"NegativeLogLikelihoodLoss", 12, convert_nll_loss, {"ignore_index", "reduction"}},
    // shapes, joins, indexing (convert_shape.cpp)
    {"Constant",
     1,
     convert_constant,
     {"value", "value_float", "value_floats", "value_int", "value_ints", "value_string", "value_strings",
      "sparse_value"}},
    {"ConstantOfShape", 9, convert_constant_of_shape, {"value"}, false, true},
    {"Shape", 1, convert_shape, {"start", "end"}, true},
    {"Size", 1, convert_size, {}, true},
    {"Reshape", 5, convert_reshape, {"allowzero"}},
    {"Flatten", 1, convert_flatten, {"axis"}},
    {"Transpose", 1, convert_transpose, {"perm"}},
    {"Squeeze", 1, convert_squeeze, {"axes"}},
    {"Unsqueeze", 1, convert_unsqueeze, {"axes"}},
    {"Concat", 4, convert_concat, {"axis"}},
    {"Split", 2, convert_split, {"axis", "split"}},
    {"Slice", 1, convert_slice, {"starts", "ends", "axes"}},
    {"Gather", 1, convert_gather, {"axis"}},
    {"Expand", 8, convert_expand, {}},
    {"Tile", 6, convert_tile, {}},
    {"Range", 11, convert_range, {}},
    {"Trilu", 14, convert_trilu, {"upper"}},
    {"ScatterND", 11, convert_scatter_nd, {"reduction"}},
    {"Pad", 2, convert_pad, {"mode", "pads", "value"}},
    {"DepthToSpace", 1, convert_depth_to_space, {"blocksize", "mode"}},
    {"SpaceToDepth", 1, convert_space_to_depth, {"blocksize"}},
    {"GatherElements", 11, convert_gather_elements, {"axis"}},
    {"ScatterElements", 11, convert_scatter_elements, {"axis", "reduction"}},
    {"Scatter", 9, convert_scatter_elements, {"axis"}},
    {"GatherND", 11, convert_gather_nd, {"batch_dims"}},
    {"OneHot", 9, convert_one_hot, {"axis"}},
    {"EyeLike", 9, convert_eye_like, {"dtype", "k"}},
    // networks (convert_nn.cpp)
    {"Gemm", 6, convert_gemm, {"alpha", "beta", "transA", "transB", "broadcast"}},
    {"MatMul", 1, convert_matmul, {}},
    {"Conv", 1, convert_conv, {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"}},
    {"MaxPool",
     1,
     convert_max_pool,
     {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides"}},
    {"AveragePool",
     1,
     convert_average_pool,
     {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"}},
    {"GlobalAveragePool", 1, convert_global_pool, {}},
    {"GlobalMaxPool", 1, convert_global_pool, {}},
    {"BatchNormalization", 6, convert_batch_norm, {"epsilon", "momentum", "training_mode", "spatial", "is_test"}},
    {"InstanceNormalization", 6, convert_instance_norm, {"epsilon"}},
    {"LayerNormalization", 17, convert_layer_norm, {"axis", "epsilon", "stash_type"}},
};

const std::vector<OpRow>& op_rows() {
  return kRows;
}

const OpRow* find_op_row(const std::string& op_type) {
  for (const OpRow& r : kRows)
    if (op_type == r.op_type) return &r;
  return nullptr;
}

std::vector<std::string> supported_op_types() {
  std::vector<std::string> out;
  for (const OpRow& r : kRows) out.emplace_back(r.op_type);
  std::sort(out.begin(), out.end());
  return out;
}

struct StaticScope::State {
  ops::ModeGuard untraced{nullptr};
  autograd::NoGradGuard no_grad;
};
StaticScope::StaticScope() : state_(std::make_unique<State>()) {}
StaticScope::~StaticScope() = default;

std::vector<std::string> support_problems(const Model& m) {
  std::map<std::string, std::vector<std::string>> unknown;
  std::vector<std::string> problems;
  for (const Node& n : m.nodes) {
    const OpRow* row = find_op_row(n.op_type);
    if (!row) {
      unknown[n.op_type].push_back(n.name);
      continue;
    }
    if (m.opset < row->since)
      problems.push_back(fmt::format("unsupported: node '{}': {} is read from opset {}, the model has opset {}", n.name,
                                     n.op_type, row->since, m.opset));
    for (const auto& [name, attr] : n.attributes)
      if (std::find(row->attributes.begin(), row->attributes.end(), name) == row->attributes.end())
        problems.push_back(fmt::format("unsupported: node '{}' ({}): attribute '{}'", n.name, n.op_type, name));
  }
  for (const auto& [op, nodes] : unknown) {
    std::string list;
    for (size_t i = 0; i < nodes.size() && i < 5; ++i) list += (i ? ", '" : "'") + nodes[i] + "'";
    if (nodes.size() > 5) list += fmt::format(" and {} more", nodes.size() - 5);
    problems.push_back(fmt::format("unsupported op type {} (nodes {})", op, list));
  }
  return problems;
}

// ---- NodeContext ----

const Tensor& NodeContext::in(size_t i) const {
  AG_CHECK(has(i), "input {} is required", i);
  if (!all_static_) check_not_symbolic(i, "a tensor");
  return inputs_[i]->tensor;
}

void NodeContext::check_not_symbolic(size_t i, const char* what) const {
  const Value& v = *inputs_[i];
  if (!v.symbolic) return;
  AG_CHECK(v.sym != nullptr,
           "input {} ('{}') is computed from symbolic sizes by node '{}' in a way the importer cannot follow "
           "(docs/ONNX.md, \"Symbolic dimensions\", lists what it follows); export without --dynamic for this dim",
           i, node.inputs[i], v.symbolic_origin);
  std::set<std::string> names;
  for (const SymInt& e : *v.sym)
    if (e.is_symbolic()) names.insert(e.expr.str());
  AG_FAIL(
      "input {} ('{}') holds symbolic sizes [{}] and is read here as {}; a graph can hold only one size's numbers "
      "there, so export without --dynamic for this dim",
      i, node.inputs[i], fmt::join(names, ", "), what);
}

const Tensor& NodeContext::static_int_tensor(size_t i, const char* what) const {
  AG_CHECK(has(i), "input {} is required", i);
  const Tensor& t = inputs_[i]->tensor;
  AG_CHECK(is_static(i),
           "input {} ('{}', {}) must be computable when the model is loaded (from constants and shapes), but it "
           "depends on the model's inputs or parameters",
           i, what, t.describe());
  AG_CHECK(is_integral(t.dtype()), "input {} ('{}') must be an integer tensor, got {}", i, what, t.describe());
  AG_CHECK(t.dim() <= 1, "input {} ('{}') must be a scalar or a 1-D tensor, got {}", i, what, t.describe());
  return t;
}

std::vector<int64_t> NodeContext::ints(size_t i, const char* what) const {
  const Tensor& t = static_int_tensor(i, what);
  if (!all_static_) check_not_symbolic(i, what);
  return t.to_vector<int64_t>();
}

SymShape NodeContext::sym_ints(size_t i, const char* what) const {
  const Tensor& t = static_int_tensor(i, what);
  const Value& v = *inputs_[i];
  if (!v.symbolic) {
    const std::vector<int64_t> values = t.to_vector<int64_t>();
    return SymShape(values.begin(), values.end());
  }
  if (v.sym == nullptr) check_not_symbolic(i, what);
  return *v.sym;
}

void NodeContext::set_sym_output(size_t k, SymShape values) {
  if (sym_outputs_.size() <= k) sym_outputs_.resize(k + 1);
  sym_outputs_[k] = std::make_shared<const SymShape>(std::move(values));
}

double NodeContext::scalar(size_t i, const char* what) const {
  AG_CHECK(has(i), "input {} is required", i);
  const Tensor& t = inputs_[i]->tensor;
  AG_CHECK(is_static(i),
           "input {} ('{}') must be computable when the model is loaded (from constants and shapes), but it depends "
           "on the model's inputs or parameters",
           i, what);
  if (!all_static_) check_not_symbolic(i, what);
  AG_CHECK(t.numel() == 1, "input {} ('{}') must have one element, got {}", i, what, t.describe());
  return t.to_vector<double>()[0];
}

static const Attribute* find_attr(const Node& node, const char* name, Attribute::Type type, const char* type_name) {
  auto it = node.attributes.find(name);
  if (it == node.attributes.end()) return nullptr;
  AG_CHECK(it->second.type == type, "attribute '{}' must be {}", name, type_name);
  return &it->second;
}

int64_t NodeContext::attr_int(const char* name, int64_t fallback) const {
  const Attribute* a = find_attr(node, name, Attribute::Type::Int, "an integer");
  return a ? a->i : fallback;
}

double NodeContext::attr_float(const char* name, double fallback) const {
  const Attribute* a = find_attr(node, name, Attribute::Type::Float, "a float");
  return a ? a->f : fallback;
}

std::string NodeContext::attr_string(const char* name, const std::string& fallback) const {
  const Attribute* a = find_attr(node, name, Attribute::Type::String, "a string");
  return a ? a->s : fallback;
}

std::optional<std::vector<int64_t>> NodeContext::attr_ints(const char* name) const {
  const Attribute* a = find_attr(node, name, Attribute::Type::Ints, "a list of integers");
  if (!a) return std::nullopt;
  return a->ints;
}

const Tensor* NodeContext::attr_tensor(const char* name) const {
  const Attribute* a = find_attr(node, name, Attribute::Type::Tensor, "a tensor");
  return a ? &a->t : nullptr;
}

std::optional<std::vector<int64_t>> NodeContext::attr_or_input_ints(const char* name, size_t i,
                                                                    int64_t input_since) const {
  if (opset < input_since) return attr_ints(name);
  if (!has(i)) return std::nullopt;
  return ints(i, name);
}

DType NodeContext::dtype_from_elem_type(int64_t elem_type, const char* what) const {
  switch (elem_type) {
    case 1:  // FLOAT
      return float_type();
    case 11:
      return DType::Float64;
    case 7:
      return DType::Int64;
    case 6:
      return DType::Int32;
    case 9:
      return DType::Bool;
    default:
      unsupported("{} {} (aotgrad has float32, float64, int64, int32, bool)", what,
                  elem_type_name(static_cast<int32_t>(elem_type)));
  }
}

int64_t normalize_axis(int64_t axis, int64_t rank, const char* what) {
  AG_CHECK(axis >= -rank && axis < rank, "{} {} is out of range for rank {}", what, axis, rank);
  return axis < 0 ? axis + rank : axis;
}

}  // namespace aotgrad::onnx_io
