// Bad ONNX input: every problem is one clear error naming what was expected and
// what was found, never a crash (docs/BAD_INPUTS.md, "ONNX files").
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "aotgrad/onnx.h"
#include "aotgrad/ops.h"
#include "onnx/model_builder.h"
#include "test_util.h"

namespace aotgrad {
namespace {

using testing::error_of;
using testing::ModelBuilder;

std::string load_error(const std::string& bytes, const onnx_io::ImportOptions& options = {}) {
  return error_of([&] { onnx_io::load_from_bytes(bytes, "model.onnx", ".", options); });
}

void expect_has(const std::string& message, const std::string& part) {
  EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' missing from: " << message;
}

ModelBuilder relu_model(int64_t opset = 14) {
  ModelBuilder b(opset);
  b.input("x", {2, 3}).output("y", {2, 3});
  b.node("Relu", {"x"}, {"y"});
  return b;
}

TEST(OnnxBadInput, NotOnnxAndTruncatedFiles) {
  expect_has(load_error("{\"this\": \"is json\"}"), "is not an ONNX model");
  const std::string whole = testing::read_file(std::string(AOTGRAD_GOLDENS_DIR) + "/onnx/conv_bn.onnx");
  ASSERT_GT(whole.size(), 100u);
  for (size_t cut : {whole.size() / 2, whole.size() - 3, size_t{10}}) {
    const std::string e = load_error(whole.substr(0, cut));
    EXPECT_NE(e, "") << "cut at " << cut;
    EXPECT_EQ(e.find("internal error"), std::string::npos) << e;
  }
  expect_has(error_of([] { onnx_io::load("/nonexistent/model.onnx"); }), "no such file");
}

TEST(OnnxBadInput, UnsupportedOpTypesAreListedAtOnceWithNodeNames) {
  ModelBuilder b;
  b.input("x", {2, 3}).output("y", {2, 3});
  b.node("Acos", {"x"}, {"a"}, "/first/Acos");
  b.node("Acos", {"a"}, {"b"}, "/second/Acos");
  b.node("TopKish", {"b"}, {"c"}, "/custom");  // the checker rejects an unknown op of the default domain
  b.node("Relu", {"b"}, {"y"});
  std::string e = load_error(b.bytes());
  EXPECT_NE(e, "");
  ModelBuilder good;
  good.input("x", {2, 3}).output("y", {2, 3});
  good.node("Acos", {"x"}, {"a"}, "/first/Acos");
  good.node("Asin", {"a"}, {"b"}, "/then/Asin");
  good.node("Acos", {"b"}, {"y"}, "/second/Acos");
  e = load_error(good.bytes());
  expect_has(e, "unsupported op type Acos (nodes '/first/Acos', '/second/Acos')");
  expect_has(e, "unsupported op type Asin (nodes '/then/Asin')");
}

TEST(OnnxBadInput, UnsupportedAttributeValuesAreNamed) {
  ModelBuilder b;
  b.input("x", {2, 3}).output("y", {2, 5});
  b.int64_constant("p", {0, 1, 0, 1});
  testing::set_attr(b.node("Pad", {"x", "p"}, {"y"}, "/pad"), "mode", std::string("wrap"));
  const std::string e = load_error(b.bytes());
  expect_has(e, "Pad mode 'wrap'");
  expect_has(e, "in ONNX node '/pad' (Pad)");
}

// A fuzzed file's pads (tests/data/onnx/fuzz-pad-int64-min.onnx): a negative pad of
// INT64_MIN was negated (undefined); it is an error naming the pads and the axis.
TEST(OnnxBadInput, NegativePadsBeyondTheAxis) {
  for (int64_t pad : {int64_t{-4}, std::numeric_limits<int64_t>::min()}) {
    ModelBuilder b;
    b.input("x", {2, 3}).output("y", {2, 3});
    b.int64_constant("p", {0, pad, 0, 0});
    b.node("Pad", {"x", "p"}, {"y"}, "/pad");
    const std::string e = load_error(b.bytes());
    expect_has(e, "Pad: negative pads " + std::to_string(pad) + " and 0 remove more than axis 1 holds (3)");
  }
}

TEST(OnnxBadInput, OpsetOutsideTheSupportedRange) {
  expect_has(load_error(relu_model(18).bytes()),
             "the model's opset is 18, outside the range this build reads (1 to 17)");
  // Within the range, an op whose version at that opset is older than the table's row.
  expect_has(load_error(relu_model(5).bytes()), "node '/Relu': Relu is read from opset 6, the model has opset 5");
}

TEST(OnnxBadInput, MissingExternalData) {
  ModelBuilder b;
  b.input("x", {2, 3}).output("y", {2, 3});
  onnx::TensorProto* w = b.proto().mutable_graph()->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(2);
  w->add_dims(3);
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* kv = w->add_external_data();
  kv->set_key("location");
  kv->set_value("weights.bin");
  b.node("Add", {"x", "w"}, {"y"});
  const std::string dir = aotgrad::testing::own_temp_path("external");
  std::filesystem::create_directories(dir);
  std::filesystem::remove(dir + "/weights.bin");
  auto load = [&] { onnx_io::load_from_bytes(b.bytes(), "model.onnx", dir); };
  expect_has(error_of(load), "external data file");
  expect_has(error_of(load), "weights.bin' is missing");
  {
    std::ofstream(dir + "/weights.bin", std::ios::binary) << std::string(10, '\0');  // 10 of 24 bytes
  }
  expect_has(error_of(load), "reach past its end");
  { std::ofstream(dir + "/weights.bin", std::ios::binary) << std::string(24, '\0'); }
  EXPECT_EQ(error_of(load), "");
  kv->set_value("../escape.bin");
  expect_has(error_of(load), "must be a relative path inside the model's folder");
}

TEST(OnnxBadInput, SymbolicDimensionsNeedInputShapes) {
  ModelBuilder b;
  b.input("x", {-1, 3}).output("y", {-1, 3});
  b.node("Relu", {"x"}, {"y"});
  expect_has(load_error(b.bytes()), "input 'x' has unknown dimensions [N, 3]; give its sizes with --input-shape x=");
  onnx_io::ImportOptions options;
  options.input_shapes["x"] = {5, 3};
  EXPECT_EQ(load_error(b.bytes(), options), "");
  options.input_shapes["x"] = {5, 4};
  expect_has(load_error(b.bytes(), options), "which the file fixes at 3");
}

TEST(OnnxBadInput, FreezingAnInitializerThatDoesNotExist) {
  ModelBuilder b;
  b.input("x", {2, 3}).output("y", {2, 3});
  b.initializer("bias", {3}, {1, 2, 3});
  b.node("Add", {"x", "bias"}, {"y"});
  onnx_io::ImportOptions options;
  options.freeze = {"weight"};
  expect_has(load_error(b.bytes(), options),
             "--freeze weight: no trainable initializer has that name (they are: bias)");
}

TEST(OnnxBadInput, ShapesThatMustBeConstantButAreNot) {
  ModelBuilder b;
  b.input("x", {2, 3}).input("shape", {2}, onnx::TensorProto::INT64).output("y", {3, 2});
  b.node("Reshape", {"x", "shape"}, {"y"}, "/reshape");
  const std::string e = load_error(b.bytes());
  expect_has(e, "input 1 ('shape', i64[2]) must be computable when the model is loaded");
  expect_has(e, "in ONNX node '/reshape' (Reshape)");
}

TEST(OnnxBadInput, WrongCallArguments) {
  auto m = onnx_io::load_from_bytes(relu_model().bytes(), "model.onnx", ".");
  expect_has(error_of([&] { (*m)({}); }), "input 'x' (f32[2, 3]) is missing");
  expect_has(error_of([&] { (*m)({zeros({3, 3})}); }), "input 'x' must be f32[2, 3], got f32[3, 3]");
  expect_has(error_of([&] { (*m)({zeros({2, 3})}, {{"z", pytree::Value(zeros({1}))}}); }), "no input called 'z'");
}

}  // namespace
}  // namespace aotgrad
