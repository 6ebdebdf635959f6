// Building small ONNX models in tests with ONNX's own protobuf classes.
#pragma once

#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

namespace aotgrad::testing {

/// A ModelProto under construction: inputs, outputs, initializers and nodes.
class ModelBuilder {
 public:
  explicit ModelBuilder(int64_t opset = 14) {
    model_.set_ir_version(7);
    auto* o = model_.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    model_.mutable_graph()->set_name("test");
  }
  /// A float32 (or `elem`) input; a dimension of -1 is symbolic ("N").
  ModelBuilder& input(const std::string& name, std::vector<int64_t> dims, int32_t elem = onnx::TensorProto::FLOAT) {
    value(model_.mutable_graph()->add_input(), name, dims, elem);
    return *this;
  }
  ModelBuilder& output(const std::string& name, std::vector<int64_t> dims, int32_t elem = onnx::TensorProto::FLOAT) {
    value(model_.mutable_graph()->add_output(), name, dims, elem);
    return *this;
  }
  ModelBuilder& initializer(const std::string& name, std::vector<int64_t> dims, const std::vector<float>& values) {
    onnx::TensorProto* t = model_.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    for (float v : values) t->add_float_data(v);
    return *this;
  }
  onnx::NodeProto& node(const std::string& op, std::vector<std::string> ins, std::vector<std::string> outs,
                        const std::string& name = "") {
    onnx::NodeProto* n = model_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? "/" + op : name);
    for (const auto& i : ins) n->add_input(i);
    for (const auto& o : outs) n->add_output(o);
    return *n;
  }
  /// A Constant node whose value is the 1-d int64 tensor `values` (Pad's pads, a shape).
  ModelBuilder& int64_constant(const std::string& out, const std::vector<int64_t>& values) {
    onnx::AttributeProto* v = node("Constant", {}, {out}).add_attribute();
    v->set_name("value");
    v->set_type(onnx::AttributeProto::TENSOR);
    v->mutable_t()->set_data_type(onnx::TensorProto::INT64);
    v->mutable_t()->add_dims(static_cast<int64_t>(values.size()));
    for (int64_t x : values) v->mutable_t()->add_int64_data(x);
    return *this;
  }
  onnx::ModelProto& proto() { return model_; }
  std::string bytes() const { return model_.SerializeAsString(); }

 private:
  static void value(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& dims, int32_t elem) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem);
    auto* shape = tt->mutable_shape();
    for (int64_t d : dims) {
      auto* dim = shape->add_dim();
      if (d < 0)
        dim->set_dim_param("N");
      else
        dim->set_dim_value(d);
    }
  }
  onnx::ModelProto model_;
};

inline void set_attr(onnx::NodeProto& n, const std::string& name, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
inline void set_attr(onnx::NodeProto& n, const std::string& name, const std::string& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}
inline void set_attr(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

}  // namespace aotgrad::testing
