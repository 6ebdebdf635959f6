// Importing ONNX files: the golden cases and the torchvision models against
// PyTorch's numbers, names and provenance, buffers, eval mode, writing back.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "aotgrad/autograd.h"
#include "aotgrad/export.h"
#include "aotgrad/onnx.h"
#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "conformance/reference_model.h"
#include "conformance/runner.h"
#include "test_util.h"

namespace aotgrad {
namespace {

// digits_mlp.onnx's open batch traced at 8.
onnx_io::ImportOptions batch_of_eight() {
  onnx_io::ImportOptions o;
  o.input_shapes["input_0"] = {8, 64};
  return o;
}

std::string golden_onnx(const std::string& name) {
  return std::string(AOTGRAD_GOLDENS_DIR) + "/onnx/" + name + ".onnx";
}

// Every visible golden case through its ONNX export (PyTorch's own), against PyTorch's
// numbers: eagerly, through the joint graph and compiled.
TEST(OnnxImport, GoldenCasesMatchPyTorchThroughTheirOnnxFiles) {
  int checked = 0;
  for (const std::string& file : conformance::golden_files({AOTGRAD_GOLDENS_DIR})) {
    const std::string onnx_file = conformance::onnx_file_for(file);
    ASSERT_FALSE(onnx_file.empty()) << "no ONNX export beside " << file;
    conformance::GoldenCase c = conformance::load_golden(file);
    models::ModelInfo info = onnx_io::model_info(onnx_file);
    for (const conformance::CaseResult& r :
         {conformance::check_eager(c, &info), conformance::check_joint(c, false, &info),
          conformance::check_compiled(c, {}, &info)})
      EXPECT_TRUE(r.passed) << c.name << ": " << r.detail;
    ++checked;
  }
  EXPECT_EQ(checked, 15);
}

TEST(OnnxImport, TorchvisionModelsMatchTheirReferenceNumbers) {
  for (const char* name : {"squeezenet1_1", "mobilenet_v3_small", "shufflenet_v2_x0_5"}) {
    const std::string ref = std::string(AOTGRAD_MODELS_DIR) + "/" + name + ".ref.json";
    for (bool compiled : {false, true}) {
      conformance::CaseResult r = conformance::check_reference_model(ref, compiled);
      EXPECT_TRUE(r.passed) << name << (compiled ? " compiled: " : " eager: ") << r.detail;
    }
  }
}

TEST(OnnxImport, ParametersAndBuffersKeepTheFileNames) {
  auto m = onnx_io::load(golden_onnx("conv_bn"));
  std::vector<std::string> params, buffers;
  for (const auto& [n, t] : m->named_parameters()) params.push_back(n);
  for (const auto& [n, t] : m->named_buffers()) buffers.push_back(n);
  EXPECT_EQ(params, (std::vector<std::string>{"conv.weight", "conv.bias", "bn.weight", "bn.bias"}));
  EXPECT_EQ(buffers, (std::vector<std::string>{"bn.running_mean", "bn.running_var"}));
  ASSERT_EQ(m->inputs().size(), 1u);
  EXPECT_EQ(m->inputs()[0].name, "input_0");
}

// Each node of the exported graph names the ONNX node it came from, where FX prints
// a stack trace, in the printed graph and in the JSON file.
TEST(OnnxImport, NodesCarryTheirOnnxNodeNames) {
  models::ModelInfo info = onnx_io::model_info(golden_onnx("simple_linear"));
  models::Instance inst = models::instantiate(info);
  auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args);
  const std::string text = graph::print_readable(*joint.graph_module, graph::PrintFormat::Compact);
  EXPECT_NE(text.find("} ONNX node: /linear/Gemm\n"), std::string::npos) << text;  // after the annotation
  EXPECT_NE(graph::to_json(*joint.graph_module).find("ONNX node: /linear/Gemm"), std::string::npos);
}

// ONNX's BatchNormalization in training mode updates running_var with the population
// variance (÷N), where PyTorch uses ÷(N−1); the numbers here are computed by hand.
TEST(OnnxImport, TrainingBatchNormUpdatesRunningStatsAsTheSpecSays) {
  auto m = onnx_io::load(golden_onnx("conv_bn"));
  nn::NamedTensors before = m->named_buffers();
  for (auto& [name, t] : before) t = clone(t);  // the buffers change in place
  manual_seed(3);
  Tensor x = randn(m->inputs()[0].shape);
  // The conv's output, channel by channel, is what the batch norm sees.
  nn::NamedTensors p = m->named_parameters();
  Tensor conv = convolution(x, p[0].second.detach(), p[1].second.detach(), {1, 1}, {1, 1}, {1, 1}, false, {0, 0}, 1);
  (*m)({x});
  nn::NamedTensors after = m->named_buffers();
  const int64_t channels = conv.size(1);
  std::vector<double> v = conv.to_vector<double>(), rm0 = before[0].second.to_vector<double>(),
                      rv0 = before[1].second.to_vector<double>(), rm1 = after[0].second.to_vector<double>(),
                      rv1 = after[1].second.to_vector<double>();
  const int64_t n = conv.size(0), hw = conv.size(2) * conv.size(3);
  for (int64_t c = 0; c < channels; ++c) {
    double sum = 0, sq = 0;
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < hw; ++i) sum += v[static_cast<size_t>((b * channels + c) * hw + i)];
    const double mean = sum / static_cast<double>(n * hw);
    for (int64_t b = 0; b < n; ++b)
      for (int64_t i = 0; i < hw; ++i) {
        const double d = v[static_cast<size_t>((b * channels + c) * hw + i)] - mean;
        sq += d * d;
      }
    const double pop_var = sq / static_cast<double>(n * hw);
    const auto k = static_cast<size_t>(c);
    EXPECT_NEAR(rm1[k], 0.9 * rm0[k] + 0.1 * mean, 1e-5) << "channel " << c;
    EXPECT_NEAR(rv1[k], 0.9 * rv0[k] + 0.1 * pop_var, 1e-5) << "channel " << c;
  }
}

TEST(OnnxImport, EvalModeNormalisesWithTheRunningStatistics) {
  auto m = onnx_io::load(golden_onnx("conv_bn"));
  manual_seed(4);
  Tensor x = randn(m->inputs()[0].shape);
  m->eval();
  nn::NamedTensors before = m->named_buffers();
  for (auto& [name, t] : before) t = clone(t);
  Tensor y_eval = (*m)({x}).tensor();
  nn::NamedTensors after = m->named_buffers();
  for (size_t i = 0; i < before.size(); ++i)
    EXPECT_EQ(before[i].second.to_vector<float>(), after[i].second.to_vector<float>()) << "eval mode wrote a buffer";
  m->train();
  Tensor y_train = (*m)({x}).tensor();
  EXPECT_GT(amax(abs(sub(y_eval, y_train))).item<double>(), 1e-3) << "eval mode used the batch statistics";
}

TEST(OnnxImport, SaveWritesTrainedValuesAndNeverHalfAFile) {
  auto m = onnx_io::load(std::string(AOTGRAD_TEST_DATA) + "/onnx/digits_mlp.onnx", batch_of_eight());
  {
    autograd::NoGradGuard no_grad;
    for (auto& [name, slot] : m->parameter_slots()) add_(*slot, 0.25);
  }
  const std::string dir = aotgrad::testing::own_temp_path("save");
  std::filesystem::create_directories(dir);
  const std::string out = dir + "/trained.onnx";
  onnx_io::save(*m, out);
  auto back = onnx_io::load(out, batch_of_eight());
  nn::NamedTensors a = m->state_dict(), b = back->state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.to_vector<float>(), b[i].second.to_vector<float>()) << a[i].first;
  }
  // A failing write leaves what was there: the target is a folder, or its folder is missing.
  const std::string before = testing::read_file(out);
  EXPECT_NE(testing::error_of([&] { onnx_io::save(*m, dir); }), "");
  EXPECT_NE(testing::error_of([&] { onnx_io::save(*m, dir + "/missing/x.onnx"); }), "");
  EXPECT_EQ(testing::read_file(out), before);
}

TEST(OnnxImport, FrozenInitializersGetNoGradient) {
  onnx_io::ImportOptions frozen;
  frozen.freeze = {"linear.bias"};
  auto m = onnx_io::load(golden_onnx("simple_linear"), frozen);
  for (const auto& [name, t] : m->named_parameters()) EXPECT_EQ(t.requires_grad(), name != "linear.bias") << name;
  models::ModelInfo info = onnx_io::model_info(golden_onnx("simple_linear"), frozen);
  models::Instance inst = models::instantiate(info);
  auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args);
  int grads = 0;
  for (const auto& [input, grad] : exporting::get_param_and_grad_nodes(*joint.graph_module)) grads += grad != nullptr;
  EXPECT_EQ(grads, 1);
}

}  // namespace
}  // namespace aotgrad
