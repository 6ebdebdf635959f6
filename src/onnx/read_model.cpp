// ModelProto -> Model: parsing with protobuf, checking with ONNX's own checker, and
// nothing trusted before it is checked (docs/BAD_INPUTS.md, "ONNX files").
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <set>

#include "onnx/model.h"
#include "onnx/tensor_proto.h"
#include "support/error.h"

namespace aotgrad::onnx_io {

static DeclaredValue declared(const onnx::ValueInfoProto& v, const std::string& path, const char* kind) {
  DeclaredValue d;
  d.name = v.name();
  AG_CHECK(v.type().has_tensor_type(),
           "{}: graph {} '{}' is not a tensor (sequences, maps and optionals are not "
           "supported)",
           path, kind, v.name());
  const auto& tt = v.type().tensor_type();
  d.onnx_elem_type = tt.elem_type();
  d.dtype = dtype_of_elem_type(tt.elem_type());
  d.has_shape = tt.has_shape();
  for (const auto& dim : tt.shape().dim()) {
    d.dims.push_back(dim.has_dim_value() ? dim.dim_value() : -1);
    d.dim_params.push_back(dim.has_dim_param() ? dim.dim_param() : "");
    AG_CHECK(!dim.has_dim_value() || dim.dim_value() >= 0, "{}: graph {} '{}' has the negative dimension {}", path,
             kind, v.name(), dim.dim_value());
  }
  return d;
}

static Attribute attribute(const onnx::AttributeProto& a, const std::string& base_dir, const std::string& what) {
  Attribute out;
  switch (a.type()) {
    case onnx::AttributeProto_AttributeType_INT:
      out.type = Attribute::Type::Int;
      out.i = a.i();
      break;
    case onnx::AttributeProto_AttributeType_FLOAT:
      out.type = Attribute::Type::Float;
      out.f = a.f();
      break;
    case onnx::AttributeProto_AttributeType_STRING:
      out.type = Attribute::Type::String;
      out.s = a.s();
      break;
    case onnx::AttributeProto_AttributeType_TENSOR:
      out.type = Attribute::Type::Tensor;
      out.t = tensor_from_proto(a.t(), base_dir, what);
      break;
    case onnx::AttributeProto_AttributeType_INTS:
      out.type = Attribute::Type::Ints;
      out.ints.assign(a.ints().begin(), a.ints().end());
      break;
    case onnx::AttributeProto_AttributeType_FLOATS:
      out.type = Attribute::Type::Floats;
      out.floats.assign(a.floats().begin(), a.floats().end());
      break;
    case onnx::AttributeProto_AttributeType_STRINGS:
      out.type = Attribute::Type::Strings;
      out.strings.assign(a.strings().begin(), a.strings().end());
      break;
    case onnx::AttributeProto_AttributeType_GRAPH:
    case onnx::AttributeProto_AttributeType_GRAPHS:
      out.type = Attribute::Type::Graph;
      break;
    default:
      out.type = Attribute::Type::Other;
  }
  return out;
}

// The opset of the default domain; any other domain's ops are reported by the op
// table as unsupported op types.
static int64_t default_opset(const onnx::ModelProto& proto, const std::string& path) {
  std::vector<std::string> others;
  for (const auto& o : proto.opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx") return o.version();
    others.push_back(o.domain());
  }
  AG_FAIL("{}: only the default ONNX domain is supported; the model imports {}", path,
          others.empty() ? std::string("no opset at all") : fmt::format("{}", fmt::join(others, ", ")));
}

// Initializers, inputs, outputs and nodes, each reference checked to point at a value
// defined before it.
static void read_graph(const onnx::GraphProto& g, const std::string& base_dir, Model& model) {
  Model* m = &model;
  const std::string& path = model.path;
  AG_CHECK(g.sparse_initializer_size() == 0, "{}: sparse initializers are not supported", path);
  std::set<std::string> defined;
  for (const auto& t : g.initializer()) {
    m->initializers.emplace_back(t.name(), tensor_from_proto(t, base_dir, "initializer '" + t.name() + "'"));
    defined.insert(t.name());
  }
  for (const auto& v : g.input()) {
    if (defined.count(v.name())) continue;  // an initializer declared as an input too: its value is the default
    m->inputs.push_back(declared(v, path, "input"));
    defined.insert(v.name());
  }
  for (const auto& v : g.output()) m->outputs.push_back(declared(v, path, "output"));
  int index = 0;
  for (const auto& n : g.node()) {
    Node node;
    node.op_type = n.domain().empty() || n.domain() == "ai.onnx" ? n.op_type() : n.domain() + "::" + n.op_type();
    node.name = n.name().empty() ? fmt::format("{} #{}", n.op_type(), index) : n.name();
    ++index;
    for (const auto& in : n.input()) {
      AG_CHECK(in.empty() || defined.count(in),
               "{}: node '{}' reads '{}', which no earlier node, input or initializer "
               "defines",
               path, node.name, in);
      node.inputs.push_back(in);
    }
    for (const auto& out : n.output()) {
      node.outputs.push_back(out);
      if (!out.empty()) defined.insert(out);
    }
    for (const auto& a : n.attribute())
      node.attributes[a.name()] =
          attribute(a, base_dir, fmt::format("attribute '{}' of node '{}'", a.name(), node.name));
    m->nodes.push_back(std::move(node));
  }
  for (const auto& o : m->outputs)
    AG_CHECK(defined.count(o.name), "{}: graph output '{}' is produced by no node, input or initializer", path, o.name);
}

std::shared_ptr<const Model> read_model(std::string_view bytes, const std::string& path, const std::string& base_dir) {
  onnx::ModelProto proto;
  // protobuf refuses messages over 2 GiB and nesting deeper than 100 on its own.
  AG_CHECK(bytes.size() < (size_t{1} << 31), "{}: {} bytes is more than an ONNX file can hold (2 GiB)", path,
           bytes.size());
  AG_CHECK(proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())),
           "{}: is not an ONNX model (the protobuf message does not parse: a different format, or a truncated file)",
           path);
  AG_CHECK(proto.has_graph() && proto.ir_version() > 0,
           "{}: is not an ONNX model (a protobuf message without an IR version and a graph)", path);
  auto m = std::make_shared<Model>();
  m->path = path;
  m->ir_version = proto.ir_version();
  m->opset = default_opset(proto, path);
  AG_CHECK(m->opset >= kMinOpset && m->opset <= kMaxOpset,
           "{}: the model's opset is {}, outside the range this build reads ({} to {})", path, m->opset, kMinOpset,
           kMaxOpset);
  try {
    onnx::checker::check_model(proto);
  } catch (const std::exception& e) {
    std::string why = e.what();
    // External data is read (and checked) below, relative to the model's folder.
    if (why.find("should be stored in") == std::string::npos) AG_FAIL("{}: fails ONNX's model checker: {}", path, why);
  }

  read_graph(proto.graph(), base_dir, *m);
  m->bytes.assign(bytes.data(), bytes.size());
  return m;
}

std::string write_model(const Model& model, const std::vector<std::pair<std::string, Tensor>>& values) {
  onnx::ModelProto proto;
  AG_INTERNAL_CHECK(proto.ParseFromString(model.bytes), "the model's bytes no longer parse");
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : values) by_name[name] = &t;
  for (auto& t : *proto.mutable_graph()->mutable_initializer()) {
    auto it = by_name.find(t.name());
    if (it == by_name.end()) continue;
    fill_proto(t, *it->second);
    by_name.erase(it);
  }
  AG_INTERNAL_CHECK(by_name.empty(), "write_model: '{}' is no initializer of the model", by_name.begin()->first);
  std::string out;
  AG_CHECK(proto.SerializeToString(&out), "{}: the model could not be serialized", model.path);
  return out;
}

}  // namespace aotgrad::onnx_io
