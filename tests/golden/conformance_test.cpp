// Golden cases: the eager stack reproduces PyTorch's numbers (tests/goldens/*.json),
// and malformed golden files are clear errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "aotgrad/error.h"
#include "conformance/runner.h"
#include "test_util.h"

using namespace aotgrad;

namespace {
std::vector<std::string> case_files() {
  return conformance::golden_files({AOTGRAD_GOLDENS_DIR});
}

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = aotgrad::testing::own_temp_path(name);
  std::ofstream(path) << text;
  return path;
}

std::string load_error(const std::string& path) {
  try {
    conformance::load_golden(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

class GoldenEager : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenEager, MatchesPyTorch) {
  conformance::CaseResult r = conformance::check_eager(conformance::load_golden(GetParam()));
  EXPECT_TRUE(r.passed) << r.name << ": " << r.detail;
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenEager, ::testing::ValuesIn(case_files()),
                         [](const auto& info) { return std::filesystem::path(info.param).stem().string(); });

class GoldenJoint : public ::testing::TestWithParam<std::string> {};

// The exported joint graph, run by the interpreter, reproduces PyTorch's outputs,
// gradients and buffer updates (and for the target cases, joint_aten's node list).
TEST_P(GoldenJoint, ExportedGraphMatchesPyTorch) {
  conformance::CaseResult r = conformance::check_joint(conformance::load_golden(GetParam()));
  EXPECT_TRUE(r.passed) << r.name << ": " << r.detail;
}

// The same with the default decomposition table: the prims lowerings are exact too.
TEST_P(GoldenJoint, DecomposedGraphMatchesPyTorch) {
  conformance::CaseResult r = conformance::check_joint(conformance::load_golden(GetParam()), true);
  EXPECT_TRUE(r.passed) << r.name << ": " << r.detail;
}

class GoldenCompiled : public ::testing::TestWithParam<std::string> {};

// Through the compiled path: the partitioned, memory-planned programs run as the
// module's forward, the caller's backward runs the compiled backward graph.
TEST_P(GoldenCompiled, CompiledStepMatchesPyTorch) {
  conformance::CaseResult r = conformance::check_compiled(conformance::load_golden(GetParam()));
  EXPECT_TRUE(r.passed) << r.name << ": " << r.detail;
}

TEST_P(GoldenCompiled, MinCutCompiledStepMatchesPyTorch) {
  compile::CompileOptions options;
  options.partition.policy = partition::Policy::MinCut;
  conformance::CaseResult r = conformance::check_compiled(conformance::load_golden(GetParam()), options);
  EXPECT_TRUE(r.passed) << r.name << ": " << r.detail;
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenCompiled, ::testing::ValuesIn(case_files()),
                         [](const auto& info) { return std::filesystem::path(info.param).stem().string(); });

INSTANTIATE_TEST_SUITE_P(Cases, GoldenJoint, ::testing::ValuesIn(case_files()),
                         [](const auto& info) { return std::filesystem::path(info.param).stem().string(); });

TEST(GoldenFiles, AllFifteenVisibleCasesAreHere) {
  EXPECT_EQ(case_files().size(), 15u);
}

TEST(GoldenFiles, TruncatedFileIsAOneLineError) {
  std::ifstream in(std::string(AOTGRAD_GOLDENS_DIR) + "/simple_linear.json");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  std::string path = write_temp("aotgrad_truncated.json", text.substr(0, text.size() / 2));
  std::string err = load_error(path);
  EXPECT_NE(err.find("not valid JSON"), std::string::npos) << err;
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;
}

TEST(GoldenFiles, BadFieldsAreNamed) {
  EXPECT_NE(load_error(write_temp("aotgrad_g1.json", R"({"format_version": 1, "case": "x", "mode": "train"})"))
                .find("field 'params' is missing"),
            std::string::npos);
  std::string bad_data = R"({"format_version": 1, "case": "x", "mode": "train", "params": [
      {"name": "w", "shape": [2, 2], "dtype": "float32", "data": [1, 2, 3]}]})";
  EXPECT_NE(load_error(write_temp("aotgrad_g2.json", bad_data))
                .find("field 'params[0].data' has 3 elements but shape [2, 2] needs 4"),
            std::string::npos);
  EXPECT_NE(load_error("/nonexistent/case.json").find("golden file '/nonexistent/case.json': does not exist"),
            std::string::npos);
}

TEST(GoldenFiles, CaseWithoutBuiltInModelFailsWithReason) {
  conformance::GoldenCase c = conformance::load_golden(std::string(AOTGRAD_GOLDENS_DIR) + "/simple_linear.json");
  c.name = "not_a_model";
  conformance::CaseResult r = conformance::check_eager(c);
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.detail.find("no built-in model named 'not_a_model'"), std::string::npos);
}

TEST(GoldenFiles, WrongNumbersFailTheComparison) {
  conformance::GoldenCase c = conformance::load_golden(std::string(AOTGRAD_GOLDENS_DIR) + "/conv_bn.json");
  // Perturb one expected gradient element by far more than the tolerance.
  Tensor& g = c.grads[0].second;
  g.data_ptr<float>()[0] += 0.01f;
  conformance::CaseResult r = conformance::check_eager(c);
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.detail.find("grad '" + c.grads[0].first + "'"), std::string::npos) << r.detail;
}
