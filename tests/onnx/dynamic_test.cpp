// ONNX files with symbolic dims (dim_param) as symbols of an exported graph (issue
// 20): one export, one compiled function, every batch size checked against eager;
// the shape arithmetic exporters write (Shape → Gather → Concat → Reshape) followed
// symbolically; and clear errors where a file fixes a size or computes with one in
// a way the importer does not follow (Note [Symbolic static values]).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "aotgrad/compile.h"
#include "aotgrad/export.h"
#include "aotgrad/graph.h"
#include "aotgrad/onnx.h"
#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "aotgrad/trace.h"
#include "conformance/compiled_step.h"
#include "model_builder.h"
#include "test_util.h"

namespace aotgrad {
namespace {

using testing::error_of;
using testing::ModelBuilder;
using testing::set_attr;

std::vector<float> ramp(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>(static_cast<int64_t>(i % 7) - 3);
  return v;
}

onnx::NodeProto& constant_ints(ModelBuilder& b, const std::string& out, const std::vector<int64_t>& values) {
  onnx::NodeProto& n = b.node("Constant", {}, {out}, "/" + out);
  set_attr(n, "value_ints", values);
  return n;
}

// x [N, 4] → MatMul → Relu → h [N, 6], then `h.view(h.size(0), 2, 3).sum(2)` as
// PyTorch's exporter writes it: the batch read with Shape and Gather, joined to the
// constant dims with Concat, and Reshape. `fixed_reshape` writes the traced batch
// (5) into the Reshape instead, as an export without dynamic axes does.
ModelBuilder batch_view_model(bool fixed_reshape) {
  ModelBuilder b(14);
  b.input("x", {-1, 4}).output("y", {-1, 2});
  b.initializer("w", {4, 6}, ramp(24, 0.25f));
  b.node("MatMul", {"x", "w"}, {"mm"});
  b.node("Relu", {"mm"}, {"h"});
  if (fixed_reshape) {
    constant_ints(b, "shape", {5, 2, 3});
  } else {
    b.node("Shape", {"h"}, {"h_shape"});
    onnx::NodeProto& zero = b.node("Constant", {}, {"zero"}, "/zero");
    set_attr(zero, "value_int", int64_t{0});
    b.node("Gather", {"h_shape", "zero"}, {"batch"});
    constant_ints(b, "axes0", {0});
    b.node("Unsqueeze", {"batch", "axes0"}, {"batch1"});
    constant_ints(b, "rest", {2, 3});
    set_attr(b.node("Concat", {"batch1", "rest"}, {"shape"}), "axis", int64_t{0});
  }
  b.node("Reshape", {"h", "shape"}, {"v"}, "/view/Reshape");
  constant_ints(b, "axes2", {2});
  set_attr(b.node("ReduceSum", {"v", "axes2"}, {"y"}), "keepdims", int64_t{0});
  return b;
}

std::string write_model(const ModelBuilder& b, const std::string& name) {
  const std::string path = aotgrad::testing::own_temp_path(name);
  std::ofstream(path, std::ios::binary) << b.bytes();
  return path;
}

// The open batch of input x traced at 5.
onnx_io::ImportOptions traced_at_five() {
  onnx_io::ImportOptions o;
  o.input_shapes["x"] = {5, 4};
  return o;
}
const onnx_io::ImportOptions kTracedAtFive = traced_at_five();

}  // namespace

TEST(OnnxDynamic, DimParamsAreOpenDimsThatTakeAnySizeEagerly) {
  auto m = onnx_io::load_from_bytes(batch_view_model(false).bytes(), "view.onnx", ".", kTracedAtFive);
  ASSERT_EQ(m->inputs().size(), 1u);
  EXPECT_EQ(m->inputs()[0].dim_params, (std::vector<std::string>{"N", ""}));
  EXPECT_EQ(m->dims_named("N"), (std::vector<std::pair<int64_t, int64_t>>{{0, 0}}));
  EXPECT_EQ(m->dim_param_names(), std::vector<std::string>{"N"});
  const Tensor y = (*m)({randn({3, 4})}).tensor();
  EXPECT_EQ(y.sizes(), (Shape{3, 2})) << "an open dim takes any size";
  const std::string e = error_of([&] { (*m)({randn({3, 5})}); });
  EXPECT_NE(e.find("input 'x' must be f32[N, 4], got f32[3, 5]"), std::string::npos) << e;
}

// PyTorch's dynamic-axes exports compute the batch inside the graph; one export
// serves every batch, the Reshape's shape printed from sym_size.
TEST(OnnxDynamic, OneExportServesEveryBatchThroughTheFilesShapeArithmetic) {
  const std::string path = write_model(batch_view_model(false), "aotgrad_dynamic_view.onnx");
  const models::ModelInfo info = onnx_io::model_info(path, kTracedAtFive);
  models::Instance inst = models::instantiate(info);
  auto* module = dynamic_cast<onnx_io::OnnxModule*>(inst.module.get());
  ASSERT_NE(module, nullptr);
  std::vector<exporting::DynamicDim> dims;
  for (const auto& [input, dim] : module->dims_named("N")) dims.push_back({input, dim});
  exporting::ExportOptions options;
  options.dynamic = dims;
  const int64_t traces = trace::traces_started();
  auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, {}, options);
  const std::string text = graph::print_readable(*joint.graph_module, graph::PrintFormat::Compact);
  EXPECT_NE(text.find("\"f32[s0, 2, 3]\""), std::string::npos) << text;
  EXPECT_NE(text.find("torch.ops.aten.sym_size.int("), std::string::npos) << text;
  EXPECT_EQ(text.find("[5, 2, 3]"), std::string::npos) << "the traced batch must not be in the graph: " << text;
  compile::CompiledFunction f = compile::aot_compile_joint_with_descriptors(joint);
  for (int64_t batch : {1, 3, 64, 257}) {
    const models::Example at = conformance::resized_example(inst.example, dims, batch, static_cast<uint64_t>(batch));
    const conformance::StepComparison c = conformance::compare_compiled_step_at(info, f, at);
    ASSERT_FALSE(c.diffs.empty());
    for (const auto& d : c.diffs) EXPECT_TRUE(d.ok) << "batch " << batch << ": " << d.what;
    EXPECT_TRUE(c.passed) << c.problem;
  }
  EXPECT_EQ(trace::traces_started() - traces, 1) << "the batch sizes must not trace again";
  std::filesystem::remove(path);
}

TEST(OnnxDynamic, AFileThatFixesTheBatchNamesTheNodeThatFixedIt) {
  auto m = onnx_io::load_from_bytes(batch_view_model(true).bytes(), "fixed.onnx", ".", kTracedAtFive);
  exporting::ExportOptions options;
  options.dynamic = {{0, 0}};
  const std::string e = error_of([&] {
    exporting::aot_export_joint_with_descriptors(*m, {randn({5, 4}, DType::Float32)}, {}, options);
  });
  EXPECT_NE(e.find("ONNX node: /view/Reshape"), std::string::npos) << e;
}

// Shape → Gather → Cast to float → Div: a size used as a number in the computation. The
// graph could hold only the traced batch there, so the export stops and names the
// node where the importer lost track.
TEST(OnnxDynamic, ASizeUsedAsANumberIsAnErrorNamingTheNode) {
  ModelBuilder b(14);
  b.input("x", {-1, 4}).output("y", {-1, 4});
  b.node("Shape", {"x"}, {"s"});
  onnx::NodeProto& zero = b.node("Constant", {}, {"zero"}, "/zero");
  set_attr(zero, "value_int", int64_t{0});
  b.node("Gather", {"s", "zero"}, {"n"});
  set_attr(b.node("Cast", {"n"}, {"sf"}, "/count/Cast"), "to", int64_t{onnx::TensorProto::FLOAT});
  b.node("Div", {"x", "sf"}, {"y"});
  auto m = onnx_io::load_from_bytes(b.bytes(), "mean.onnx", ".", kTracedAtFive);
  EXPECT_EQ((*m)({ones({3, 4})}).tensor().sizes(), (Shape{3, 4})) << "eager runs at any batch";
  exporting::ExportOptions options;
  options.dynamic = {{0, 0}};
  const std::string e = error_of([&] {
    exporting::aot_export_joint_with_descriptors(*m, {randn({5, 4})}, {}, options);
  });
  EXPECT_NE(e.find("symbolic sizes by node '/count/Cast'"), std::string::npos) << e;
  EXPECT_NE(e.find("export without --dynamic"), std::string::npos) << e;
}

// ConstantOfShape of a symbolic shape (a mask like x's) is made in the graph at
// every size, not stored as a constant of the traced size.
TEST(OnnxDynamic, ConstantOfShapeFollowsTheSymbolicSize) {
  ModelBuilder b(14);
  b.input("x", {-1, 4}).output("y", {-1, 4});
  b.node("Shape", {"x"}, {"s"});
  onnx::NodeProto& c = b.node("ConstantOfShape", {"s"}, {"ones"});
  auto* value = c.add_attribute();
  value->set_name("value");
  value->set_type(onnx::AttributeProto::TENSOR);
  value->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  value->mutable_t()->add_dims(1);
  value->mutable_t()->add_float_data(2.0f);
  b.node("Add", {"x", "ones"}, {"y"});
  auto m = onnx_io::load_from_bytes(b.bytes(), "ones.onnx", ".", kTracedAtFive);
  exporting::ExportOptions dynamic;
  dynamic.dynamic = {{0, 0}};
  auto joint = exporting::aot_export_joint_with_descriptors(*m, {randn({5, 4})}, {}, dynamic);
  compile::CompiledFunction f = compile::aot_compile_joint_with_descriptors(joint);
  const Tensor x = randn({3, 4});
  const std::vector<float> got = f.call_module(*m, {x}).tensor().to_vector<float>(), in = x.to_vector<float>();
  ASSERT_EQ(got.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) EXPECT_EQ(got[i], in[i] + 2.0f) << i;
}

// Squeeze without axes drops every dim of size 1: a symbolic batch stays, guarded
// not to be 1 (eagerly a batch of 1 would be squeezed away).
TEST(OnnxDynamic, SqueezeWithoutAxesGuardsTheSymbolicDim) {
  ModelBuilder b(14);
  b.input("x", {-1, 1, 4}).output("y", {-1, 4});
  b.node("Squeeze", {"x"}, {"y"});
  onnx_io::ImportOptions options;
  options.input_shapes["x"] = {5, 1, 4};
  auto m = onnx_io::load_from_bytes(b.bytes(), "squeeze.onnx", ".", options);
  exporting::ExportOptions dynamic;
  dynamic.dynamic = {{0, 0}};
  auto joint = exporting::aot_export_joint_with_descriptors(*m, {randn({5, 1, 4})}, {}, dynamic);
  const std::string text = graph::print_readable(*joint.graph_module, graph::PrintFormat::Compact);
  EXPECT_NE(text.find("\"f32[s0, 4]\""), std::string::npos) << text;
  compile::CompiledFunction f = compile::aot_compile_joint_with_descriptors(joint);
  const Tensor three = randn({3, 1, 4});
  const Tensor y = f.call_module(*m, {three}).tensor();
  EXPECT_EQ(y.sizes(), (Shape{3, 4}));
  EXPECT_EQ(y.to_vector<float>(), three.to_vector<float>());
  const std::string e = error_of([&] { f.call_module(*m, {randn({1, 1, 4})}); });
  EXPECT_NE(e.find("squeeze keeps a dim that is not 1"), std::string::npos) << e;
}

}  // namespace aotgrad
