// OnnxModule: an imported ONNX graph as an nn::Module.
//
// Note [Static values]: exporters write shape arithmetic into the graph (Shape,
// Gather, Div, Concat feeding a Reshape), and ops like Reshape, Slice or Unsqueeze
// take their shapes and axes as tensor inputs. aotgrad's ops take those as
// integers, and a traced graph (like PyTorch's) has no tensors of shapes. So a value
// computed only from constants, initializers that are not trained, and the shapes
// of tensors is "static": its node runs on real tensors even while the model is
// traced (the tracer suspended, autograd off), and a converter reads it as integers.
// Static values that reach a tensor op become graph constants. Anything that depends
// on the model's inputs or parameters is traced as usual, and a converter that needs
// it as integers fails with the node's name.
#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>

#include "aotgrad/annotate.h"
#include "aotgrad/autograd.h"
#include "aotgrad/onnx.h"
#include "aotgrad/trace.h"
#include "onnx/convert.h"
#include "ops/dispatch.h"

namespace aotgrad::onnx_io {

struct OnnxModule::Impl {
  std::deque<Tensor> params, buffers;  // the registered slots (stable addresses)
  std::vector<std::pair<std::string, Tensor*>> param_slots, buffer_slots;
  std::vector<std::pair<std::string, Tensor>> constants;  // initializers that are not trained, bound inputs
  std::vector<const OpRow*> rows;                         // per node
  bool float64 = false;
};

// Every op type, attribute and opset the model uses must be supported; all that are
// not are reported at once, with the nodes that use them.
static std::vector<const OpRow*> check_supported(const Model& m) {
  std::vector<std::string> problems = support_problems(m);
  if (!problems.empty()) {
    Error e(ErrorKind::User, fmt::format("{}: {} problem(s) with the model's ops", m.path, problems.size()));
    for (const std::string& p : problems) e.add_context(p);
    throw e;
  }
  std::vector<const OpRow*> rows;
  for (const Node& n : m.nodes) rows.push_back(find_op_row(n.op_type));
  return rows;
}

// Initializers read by BatchNormalization as running statistics become buffers.
static std::set<std::string> running_stat_names(const Model& m) {
  std::set<std::string> out;
  for (const Node& n : m.nodes)
    if (n.op_type == "BatchNormalization")
      for (size_t i = 3; i < 5 && i < n.inputs.size(); ++i) out.insert(n.inputs[i]);
  return out;
}

// The name the file gives each dim of `d` it leaves open ("?" unnamed, "" fixed).
static std::vector<std::string> open_dims(const DeclaredValue& d, size_t rank) {
  std::vector<std::string> out(rank, "?");  // a file without a shape leaves every dim open
  if (d.has_shape)
    for (size_t i = 0; i < rank; ++i) out[i] = d.dims[i] >= 0 ? "" : (d.dim_params[i].empty() ? "?" : d.dim_params[i]);
  return out;
}

static ValueInfo resolve_input(const DeclaredValue& d, const ImportOptions& options, bool float64,
                               const std::string& path) {
  AG_CHECK(d.dtype.has_value(), "{}: input '{}' has element type {} (aotgrad has float32, float64, int64, int32, bool)",
           path, d.name, elem_type_name(d.onnx_elem_type));
  ValueInfo v{d.name, *d.dtype == DType::Float32 && float64 ? DType::Float64 : *d.dtype, {}, {}};
  if (auto it = options.input_shapes.find(d.name); it != options.input_shapes.end()) {
    AG_CHECK(!d.has_shape || it->second.size() == d.dims.size(),
             "{}: --input-shape {} gives {} dimensions, the file declares {}", path, d.name, it->second.size(),
             d.dims.size());
    for (size_t i = 0; i < d.dims.size(); ++i)
      AG_CHECK(d.dims[i] < 0 || d.dims[i] == it->second[i],
               "{}: --input-shape {} gives {} for dimension {}, which the file fixes at {}", path, d.name,
               it->second[i], i, d.dims[i]);
    for (int64_t s : it->second) AG_CHECK(s >= 0, "{}: --input-shape {}: negative size {}", path, d.name, s);
    v.shape = it->second;
    v.dim_params = open_dims(d, v.shape.size());
    return v;
  }
  AG_CHECK(d.has_shape, "{}: input '{}' has no declared shape; give it with --input-shape {}=D0,D1,...", path, d.name,
           d.name);
  v.shape = d.dims;
  if (options.batch && !v.shape.empty() && v.shape[0] < 0) v.shape[0] = *options.batch;
  std::vector<std::string> dims;
  bool unknown = false;
  for (size_t i = 0; i < d.dims.size(); ++i) {
    unknown |= v.shape[i] < 0;
    dims.push_back(d.dims[i] >= 0 ? std::to_string(d.dims[i]) : (d.dim_params[i].empty() ? "?" : d.dim_params[i]));
  }
  AG_CHECK(!unknown, "{}: input '{}' has unknown dimensions [{}]; give its sizes with --input-shape {}=D0,D1,...", path,
           d.name, fmt::join(dims, ", "), d.name);
  v.dim_params = open_dims(d, v.shape.size());
  return v;
}

// Whether `t` fits input `in`: its dtype and rank, and the sizes the file fixes.
static bool fits(const Tensor& t, const ValueInfo& in) {
  if (t.dtype() != in.dtype || t.dim() != static_cast<int64_t>(in.shape.size())) return false;
  for (size_t i = 0; i < in.shape.size(); ++i)
    if (!in.is_open(i) && t.size(static_cast<int64_t>(i)) != in.shape[i]) return false;
  return true;
}

// "f32[batch_size, 3, 224, 224]": the sizes an input takes, open dims by name.
static std::string expected_str(const ValueInfo& in) {
  std::vector<std::string> dims;
  for (size_t i = 0; i < in.shape.size(); ++i)
    dims.push_back(in.is_open(i) ? in.dim_params[i] : std::to_string(in.shape[i]));
  return fmt::format("{}[{}]", dtype_abbrev(in.dtype), fmt::join(dims, ", "));
}

OnnxModule::OnnxModule(std::shared_ptr<const Model> model, const ImportOptions& options)
    : nn::Module("OnnxModule"), model_(std::move(model)), impl_(std::make_unique<Impl>()) {
  const Model& m = *model_;
  impl_->rows = check_supported(m);
  impl_->float64 = options.float64;
  const std::set<std::string> stats = running_stat_names(m);
  std::set<std::string> frozen(options.freeze.begin(), options.freeze.end());
  for (const auto& [name, value] : m.initializers) {
    // Each module owns its tensors: training one must not change the parsed file's values.
    Tensor t = options.float64 && value.dtype() == DType::Float32 ? to(value, DType::Float64) : clone(value);
    if (stats.count(name) && t.is_floating_point()) {
      impl_->buffers.push_back(t);
      impl_->buffer_slots.emplace_back(name, &impl_->buffers.back());
    } else if (t.is_floating_point()) {
      impl_->params.push_back(t);
      impl_->param_slots.emplace_back(name, &impl_->params.back());
    } else {
      impl_->constants.emplace_back(name, t);
    }
  }
  for (auto& [name, slot] : impl_->param_slots) {
    register_parameter(name, *slot);
    if (frozen.erase(name)) slot->set_requires_grad(false);
  }
  for (auto& [name, slot] : impl_->buffer_slots) register_buffer(name, *slot);
  if (!frozen.empty()) {
    std::vector<std::string> names;
    for (const auto& [n, s] : impl_->param_slots) names.push_back(n);
    AG_FAIL("{}: --freeze {}: no trainable initializer has that name (they are: {})", m.path, *frozen.begin(),
            names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", ")));
  }
  std::set<std::string> bound;
  for (const auto& [name, value] : options.constant_inputs) {
    bool found = false;
    for (const DeclaredValue& d : m.inputs) found |= d.name == name;
    AG_CHECK(found, "{}: no graph input is called '{}'", m.path, name);
    impl_->constants.emplace_back(
        name, options.float64 && value.dtype() == DType::Float32 ? to(value, DType::Float64) : value);
    bound.insert(name);
  }
  for (const auto& [name, sizes] : options.input_shapes) {
    std::vector<std::string> open;  // the inputs it may name
    for (const DeclaredValue& d : m.inputs)
      if (!bound.count(d.name)) open.push_back(d.name);
    AG_CHECK(std::find(open.begin(), open.end(), name) != open.end(),
             "{}: --input-shape {}: no graph input has that name (they are: {})", m.path, name,
             open.empty() ? std::string("none") : fmt::format("{}", fmt::join(open, ", ")));
  }
  for (const DeclaredValue& d : m.inputs)
    if (!bound.count(d.name)) inputs_.push_back(resolve_input(d, options, options.float64, m.path));
  for (const DeclaredValue& d : m.outputs)
    outputs_.push_back(ValueInfo{d.name, d.dtype.value_or(DType::Float32), d.has_shape ? d.dims : Shape{},
                                 open_dims(d, d.has_shape ? d.dims.size() : 0)});
}

OnnxModule::~OnnxModule() = default;

const std::string& OnnxModule::path() const {
  return model_->path;
}

std::vector<std::pair<int64_t, int64_t>> OnnxModule::dims_named(const std::string& dim_param) const {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (size_t i = 0; i < inputs_.size(); ++i)
    for (size_t d = 0; d < inputs_[i].dim_params.size(); ++d)
      if (inputs_[i].dim_params[d] == dim_param && dim_param != "?" && !dim_param.empty())
        out.emplace_back(static_cast<int64_t>(i), static_cast<int64_t>(d));
  return out;
}

std::vector<std::string> OnnxModule::dim_param_names() const {
  std::set<std::string> names;
  for (const ValueInfo& in : inputs_)
    for (const std::string& p : in.dim_params)
      if (!p.empty() && p != "?") names.insert(p);
  return {names.begin(), names.end()};
}

// Runs one node: inputs looked up, static nodes on real tensors (Note [Static
// values]), the node's name in force as its provenance, errors naming the node.
static void run_node(const Node& node, const OpRow& row, int64_t opset, bool float64, bool training,
                     std::unordered_map<std::string, Value>& values) {
  std::vector<const Value*> inputs;
  bool all_static = true;
  bool reads_symbols = false;  // a static value computed from symbolic sizes (the shape of one is fixed)
  for (const std::string& name : node.inputs) {
    if (name.empty()) {
      inputs.push_back(nullptr);
      continue;
    }
    auto it = values.find(name);
    AG_INTERNAL_CHECK(it != values.end(), "onnx: value '{}' read before it was made", name);
    inputs.push_back(&it->second);
    all_static &= it->second.is_static;
    reads_symbols |= it->second.symbolic && !row.reads_only_shapes;
  }
  if (reads_symbols && row.sized_by_input) all_static = false;  // made in the graph at every size
  NodeContext ctx(node, opset, inputs, float64, training);
  TensorList outs;
  std::vector<std::shared_ptr<const SymShape>> syms;
  try {
    StackTraceOverride provenance(StackTrace{{}, "ONNX node: " + node.name});
    std::optional<StaticScope> untraced;
    if (all_static) untraced.emplace();
    outs = row.convert(ctx);
    syms = ctx.sym_outputs();
    if (all_static && reads_symbols && syms.empty()) syms = follow_symbols(row, ctx, inputs, outs, float64);
  } catch (Error& e) {
    e.add_context(fmt::format("in ONNX node '{}' ({})", node.name, node.op_type));
    throw;
  }
  for (size_t k = 0; k < node.outputs.size(); ++k) {
    if (node.outputs[k].empty()) continue;
    AG_INTERNAL_CHECK(k < outs.size() && outs[k].defined(), "onnx: {} node '{}' gave no output {}", node.op_type,
                      node.name, k);
    Value v{outs[k], all_static || row.reads_only_shapes, false};
    if (k < syms.size() && syms[k]) {
      v.sym = syms[k];
      for (const SymInt& e : *v.sym) v.symbolic |= e.is_symbolic();
    } else if (all_static && reads_symbols) {
      v.symbolic = true;  // computed from symbolic sizes in a way not followed
      v.symbolic_origin = node.name;
    }
    values[node.outputs[k]] = std::move(v);
  }
}

pytree::Value OnnxModule::forward(const nn::Args& args, const nn::Kwargs& kwargs) {
  const Model& m = *model_;
  AG_CHECK(args.size() <= inputs_.size(), "{}: the model takes {} inputs, got {} positional arguments", m.path,
           inputs_.size(), args.size());
  std::unordered_map<std::string, Value> values;
  for (const auto& [name, slot] : impl_->param_slots) values[name] = Value{*slot, false, false};
  for (const auto& [name, slot] : impl_->buffer_slots) values[name] = Value{*slot, false, true};
  for (const auto& [name, t] : impl_->constants) values[name] = Value{t, true, false};
  for (size_t i = 0; i < inputs_.size(); ++i) {
    const ValueInfo& in = inputs_[i];
    const pytree::Value* given = i < args.size() ? &args[i] : nullptr;
    for (const auto& [key, v] : kwargs)
      if (key == in.name) {
        AG_CHECK(given == nullptr, "{}: input '{}' given both by position and by name", m.path, in.name);
        given = &v;
      }
    AG_CHECK(given != nullptr, "{}: input '{}' ({}) is missing", m.path, in.name, expected_str(in));
    const nn::Args one{*given};
    const Tensor t = nn::tensor_arg(m.path, one, 0, in.name.c_str());
    AG_CHECK(fits(t, in), "{}: input '{}' must be {}, got {}", m.path, in.name, expected_str(in), t.describe());
    values[in.name] = Value{t, false, false};
  }
  for (const auto& [key, v] : kwargs) {
    bool known = false;
    for (const ValueInfo& in : inputs_) known |= in.name == key;
    AG_CHECK(known, "{}: the model has no input called '{}'", m.path, key);
  }
  for (size_t i = 0; i < m.nodes.size(); ++i)
    run_node(m.nodes[i], *impl_->rows[i], m.opset, impl_->float64, is_training(), values);
  std::vector<pytree::Value> outs;
  for (const ValueInfo& o : outputs_) {
    const Value& v = values.at(o.name);
    AG_CHECK(!v.symbolic,
             "{}: output '{}' is computed from the symbolic sizes alone; a graph can hold only one size's "
             "numbers there, so export without --dynamic",
             m.path, o.name);
    outs.emplace_back(v.tensor);
  }
  if (outs.size() == 1) return outs[0];
  return pytree::Value::tuple(std::move(outs));
}

}  // namespace aotgrad::onnx_io
