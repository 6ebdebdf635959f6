// Hostile and malformed files: every loader gives a user error naming what it expected
// and what it found; nothing crashes, recurses without bound or is silently accepted.
// Each case here is one of the crashes or silent acceptances issue 22 reported.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "aotgrad/export.h"
#include "aotgrad/graph.h"
#include "aotgrad/models.h"
#include "conformance/golden.h"
#include "test_util.h"

using namespace aotgrad;
using aotgrad::testing::error_of;
using aotgrad::testing::read_file;
using nlohmann::json;

namespace {
json simple_linear_joint() {
  models::Instance inst = models::instantiate(models::find_model("simple_linear"));
  return json::parse(exporting::joint_to_json(
      exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs)));
}

std::string load_error(const json& j) {
  return error_of([&] { exporting::joint_from_json(j.dump()); });
}

json& node_named(json& j, const std::string& name) {
  for (json& n : j["graph_module"]["nodes"])
    if (n["name"] == name) return n;
  throw std::runtime_error("no node " + name);
}

// '[' * depth + ']' * depth in place of the string "@" inside `j`'s text.
std::string nest_at_marker(const json& j, int depth, const std::string& open, const std::string& leaf,
                           const std::string& close) {
  std::string text = j.dump();
  std::string nested;
  for (int i = 0; i < depth; ++i) nested += open;
  nested += leaf;
  for (int i = 0; i < depth; ++i) nested += close;
  text.replace(text.find("\"@\""), 3, nested);
  return text;
}

std::string golden_error(const json& doc) {
  const std::string path = aotgrad::testing::own_temp_path("case.json");
  std::ofstream(path) << doc.dump();
  return error_of([&] { conformance::load_golden(path); });
}
}  // namespace

TEST(UntrustedGraphFile, TheValidFileLoads) {
  EXPECT_EQ(load_error(simple_linear_joint()), "");
}

TEST(UntrustedGraphFile, DeepNestingIsRefusedBeforeAnythingRecurses) {
  json j = simple_linear_joint();
  j["metadata"]["junk"] = "@";
  EXPECT_NE(error_of([&] {
              exporting::joint_from_json(nest_at_marker(j, 150000, "[", "", "]"));
            }).find("nest more than 128 levels"),
            std::string::npos);
  j = simple_linear_joint();
  j["graph_module"]["out_spec"] = "@";
  EXPECT_NE(error_of([&] {
              exporting::joint_from_json(
                  nest_at_marker(j, 35000, R"({"kind":"list","children":[)", R"({"kind":"leaf"})", "]}"));
            }).find("nest more than 128 levels"),
            std::string::npos);
}

TEST(UntrustedGraphFile, DeeplyNestedDescriptorsAreRefused) {
  json j = simple_linear_joint();
  std::string desc;
  for (int i = 0; i < 25000; ++i) desc += "ViewBaseAOTInput(base_of=";
  desc += "PlainAOTInput(idx=0)";
  desc += std::string(25000, ')');
  j["graph_module"]["nodes"][2]["meta"]["desc"] = desc;
  const std::string e = load_error(j);
  EXPECT_NE(e.find("descriptors nest more than 64 deep"), std::string::npos) << e;
  EXPECT_LT(e.size(), 600u) << "the message quotes only the start of the descriptor";
}

TEST(UntrustedGraphFile, AVeryLongNodeNameIsNotRunThroughARegex) {
  json j = simple_linear_joint();
  const std::string long_name(30000, 'p');
  // Rename a placeholder and every reference to it.
  std::string text = j.dump();
  for (size_t at = text.find("\"primals_1\""); at != std::string::npos; at = text.find("\"primals_1\"", at))
    text.replace(at, 11, "\"" + long_name + "\"");
  EXPECT_EQ(error_of([&] { exporting::joint_from_json(text); }), "");
}

TEST(UntrustedGraphFile, ShapesWhoseElementCountOverflowsAreRefused) {
  json j = simple_linear_joint();
  j["graph_module"]["constants"].push_back(
      {{"name", "c"}, {"dtype", "float32"}, {"sizes", {3, 6148914691236517206LL}}, {"data", {1, 2}}});
  EXPECT_NE(load_error(j).find("has more elements than a tensor may have"), std::string::npos) << load_error(j);
  j = simple_linear_joint();
  node_named(j, "primals_1")["meta"]["val"]["items"][0]["sizes"] = {6148914691236517206LL, 3};
  EXPECT_NE(load_error(j).find("more elements than a tensor may have"), std::string::npos) << load_error(j);
  j = simple_linear_joint();
  node_named(j, "primals_1")["meta"]["val"]["items"][0]["sizes"] = {-2, 3};
  EXPECT_NE(load_error(j).find("sizes must be non-negative"), std::string::npos) << load_error(j);
}

TEST(UntrustedGraphFile, RecordedShapesMustFollowFromTheShapeRules) {
  json j = simple_linear_joint();
  node_named(j, "addmm")["meta"]["val"]["items"][0]["sizes"] = {4, 3};
  EXPECT_NE(load_error(j).find("node 'addmm': its result is recorded as f32[4, 3], but its shape rule gives f32[4, 2]"),
            std::string::npos)
      << load_error(j);
  j = simple_linear_joint();
  node_named(j, "addmm")["meta"]["val"]["items"][0]["dtype"] = "float64";
  EXPECT_NE(load_error(j).find("recorded as f64[4, 2]"), std::string::npos) << load_error(j);
}

TEST(UntrustedGraphFile, ArgumentsMustMatchTheOpSchema) {
  json j = simple_linear_joint();
  json& addmm = node_named(j, "addmm");
  addmm["args"].erase(addmm["args"].size() - 1);
  EXPECT_NE(load_error(j).find("node 'addmm'"), std::string::npos) << load_error(j);
  EXPECT_NE(load_error(j).find("mat2"), std::string::npos) << load_error(j);
  j = simple_linear_joint();
  node_named(j, "addmm")["args"][0] = "a string";
  EXPECT_NE(load_error(j).find("node 'addmm'"), std::string::npos) << load_error(j);
  j = simple_linear_joint();
  node_named(j, "addmm")["target"] = "aten::frobnicate.default";
  EXPECT_NE(load_error(j).find("unknown op 'aten::frobnicate.default'"), std::string::npos) << load_error(j);
  j = simple_linear_joint();
  node_named(j, "addmm")["target"] = "aten::linear.default";  // composite: never in a graph
  EXPECT_NE(load_error(j).find("composite op"), std::string::npos) << load_error(j);
}

TEST(UntrustedGraphFile, ReferencesMustPointBackwards) {
  json j = simple_linear_joint();
  node_named(j, "t")["args"][0] = {{"node", "addmm"}};  // a use before definition (a cycle t -> addmm -> t)
  EXPECT_NE(load_error(j).find("not defined before it"), std::string::npos) << load_error(j);
}

TEST(GraphFile, ConstantsRoundTripExactly) {
  // int64 beyond 2^53 (a double would round it), NaN and infinities, bools.
  graph::GraphModule gm;
  const int64_t big = (int64_t{1} << 53) + 1;
  gm.add_constant(Tensor::from_vector<int64_t>({big, -big, INT64_MAX}, {3}));
  gm.add_constant(Tensor::from_vector<float>({NAN, INFINITY, -INFINITY, 0.5f}, {4}));
  gm.add_constant(Tensor::from_vector<bool>({true, false}, {2}));
  graph::Node* c = gm.graph->get_attr(gm.constants[0].first);
  gm.graph->output({graph::Arg(c)});
  auto back = graph::from_json(graph::to_json(gm));
  EXPECT_EQ(back->constants[0].second.to_vector<int64_t>(), (std::vector<int64_t>{big, -big, INT64_MAX}));
  const std::vector<float> f = back->constants[1].second.to_vector<float>();
  EXPECT_TRUE(std::isnan(f[0]));
  EXPECT_EQ(f[1], INFINITY);
  EXPECT_EQ(f[2], -INFINITY);
  EXPECT_EQ(f[3], 0.5f);
  EXPECT_EQ(back->constants[2].second.to_vector<bool>(), (std::vector<bool>{true, false}));
  EXPECT_EQ(graph::to_json(*back), graph::to_json(gm));
}

TEST(UntrustedGraphFile, ConstantValuesMustFitTheirDtype) {
  json j = simple_linear_joint();
  j["graph_module"]["constants"].push_back({{"name", "c"}, {"dtype", "int32"}, {"sizes", {1}}, {"data", {1e10}}});
  EXPECT_NE(load_error(j).find("an integer constant's value must be an integer"), std::string::npos) << load_error(j);
  j["graph_module"]["constants"].back()["data"] = {int64_t{1} << 40};
  EXPECT_NE(load_error(j).find("does not fit dtype int32"), std::string::npos) << load_error(j);
}

TEST(UntrustedGraphFile, NodesMustBeInTheirPlace) {
  json j = simple_linear_joint();
  json& nodes = j["graph_module"]["nodes"];
  nodes.push_back(nodes.back());  // a second output node
  EXPECT_NE(load_error(j).find("comes after the output node"), std::string::npos) << load_error(j);
  j = simple_linear_joint();
  json& ns = j["graph_module"]["nodes"];
  json placeholder = ns[0];
  placeholder["name"] = "late_input";
  ns.insert(ns.begin() + 5, placeholder);
  EXPECT_NE(load_error(j).find("a placeholder comes after other nodes"), std::string::npos) << load_error(j);
}

TEST(UntrustedGraphFile, FieldsOfTheWrongTypeNameTheField) {
  json j = simple_linear_joint();
  node_named(j, "addmm")["meta"]["is_backward"] = "yes";
  EXPECT_NE(load_error(j).find("field 'is_backward' must be true or false"), std::string::npos) << load_error(j);
  j = simple_linear_joint();
  j["metadata"]["num_primals"] = 7;
  EXPECT_NE(load_error(j).find("metadata says 7 primals"), std::string::npos) << load_error(j);
  EXPECT_NE(error_of([] {
              exporting::joint_from_json(R"({"format":"aotgrad-joint","version":1e400})");
            }).find("not valid JSON"),
            std::string::npos);
}

TEST(UntrustedCaseFile, TolerancesMustBeFiniteAndSane) {
  json doc = json::parse(read_file(AOTGRAD_GOLDENS_DIR "/simple_linear.json"));
  EXPECT_EQ(golden_error(doc), "");
  doc["tolerance"]["atol"] = "inf";
  EXPECT_NE(golden_error(doc).find("field 'tolerance.atol' must be a number"), std::string::npos) << golden_error(doc);
  doc["tolerance"]["atol"] = 1e30;
  EXPECT_NE(golden_error(doc).find("must be in [0, 1]"), std::string::npos) << golden_error(doc);
}

TEST(UntrustedCaseFile, TheFormatVersionIsRead) {
  json doc = json::parse(read_file(AOTGRAD_GOLDENS_DIR "/simple_linear.json"));
  doc["format_version"] = 2;
  EXPECT_NE(golden_error(doc).find("field 'format_version' is 2, but this build reads version 1"), std::string::npos)
      << golden_error(doc);
}

TEST(UntrustedCaseFile, OverflowingShapesAndDeepRecordsAreRefused) {
  json doc = json::parse(read_file(AOTGRAD_GOLDENS_DIR "/simple_linear.json"));
  doc["inputs"][0]["shape"] = {6148914691236517206LL, 3};
  doc["inputs"][0]["data"] = {1.0, 2.0};
  EXPECT_NE(golden_error(doc).find("more elements than a tensor may have"), std::string::npos) << golden_error(doc);
  doc = json::parse(read_file(AOTGRAD_GOLDENS_DIR "/simple_linear.json"));
  doc["joint_aten"]["junk"] = "@";
  const std::string path = aotgrad::testing::own_temp_path("deep.json");
  std::ofstream(path) << nest_at_marker(doc, 120000, "[", "", "]");
  EXPECT_NE(error_of([&] { conformance::load_golden(path); }).find("nest more than 128 levels"), std::string::npos);
  doc = json::parse(read_file(AOTGRAD_GOLDENS_DIR "/simple_linear.json"));
  doc["joint_aten"]["nodes"][0].erase("shape");
  EXPECT_NE(golden_error(doc).find("field 'joint_aten.nodes[0].shape' is missing"), std::string::npos)
      << golden_error(doc);
}

TEST(UntrustedCaseFile, AFolderIsNotACaseFile) {
  const std::string dir = aotgrad::testing::own_temp_path("x.json");
  std::filesystem::create_directories(dir);
  EXPECT_NE(error_of([&] { conformance::load_golden(dir); }).find("not a regular file"), std::string::npos);
}
