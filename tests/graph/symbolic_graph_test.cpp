// Symbolic shapes in the IR (docs/SYMBOLIC_SHAPES.md): sizes as expressions on the
// nodes' values, where each symbol comes from, and the guards — printed as FX prints
// them, kept through the JSON file (format version 2; version 1 files still load),
// and a hostile file's bad expressions are clear errors.
#include <gtest/gtest.h>

#include "aotgrad/export.h"
#include "aotgrad/graph.h"
#include "aotgrad/models.h"
#include "test_util.h"

using namespace aotgrad;
using aotgrad::testing::error_of;

namespace {
const SymExpr s0 = SymExpr::symbol(0);

// simple_linear's joint graph with its batch made symbolic by hand: x [4, 3] is
// [s0, 3], the output and the tangent [s0, 2], guarded s0 >= 2.
std::shared_ptr<graph::GraphModule> symbolic_linear() {
  models::Instance inst = models::instantiate(models::find_model("simple_linear"));
  exporting::ExportOptions o;
  o.record_stack_traces = false;
  auto gm = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, {}, o).graph_module;
  const int64_t batch = gm->graph->find("primals_3")->meta.val.as_tensor().sizes[0];
  for (const auto& n : gm->graph->nodes())
    for (auto& t : n->meta.val.items) {
      if (!t || t->sizes.empty() || t->sizes[0] != batch) continue;
      t->sym_sizes.push_back(s0);
      for (size_t d = 1; d < t->sizes.size(); ++d) t->sym_sizes.emplace_back(t->sizes[d]);
    }
  gm->symbols.push_back({"primals_3", 0});
  gm->guards.push_back({s0, SymGuard::Rel::Ge, SymExpr(2), "a test"});
  return gm;
}
}  // namespace

TEST(SymbolicGraph, PrintsSymbolsSizesAndGuards) {
  auto gm = symbolic_linear();
  const std::string text = graph::print_readable(*gm, graph::PrintFormat::Compact);
  EXPECT_NE(text.find("primals_3: \"f32[s0, 3]\""), std::string::npos) << text;
  EXPECT_NE(text.find("# s0 = primals_3.size(0)"), std::string::npos) << text;
  EXPECT_NE(text.find("# Guards: s0 >= 2"), std::string::npos) << text;
  EXPECT_NE(text.find("\"f32[s0, 2]\""), std::string::npos) << text;
}

TEST(SymbolicGraph, SurvivesTheJsonRoundTripAndVersionOneFilesLoad) {
  auto gm = symbolic_linear();
  const std::string text = graph::to_json(*gm);
  EXPECT_NE(text.find("\"version\": 2"), std::string::npos);
  auto back = graph::from_json(text);
  EXPECT_EQ(graph::print_readable(*back), graph::print_readable(*gm));
  ASSERT_EQ(back->symbols.size(), 1u);
  EXPECT_EQ(back->symbols[0], gm->symbols[0]);
  ASSERT_EQ(back->guards.size(), 1u);
  EXPECT_EQ(back->guards[0].str(), "s0 >= 2");
  EXPECT_EQ(back->guards[0].reason, "a test");
  EXPECT_EQ(back->graph->find("primals_3")->meta.val.as_tensor().sym_sizes, (std::vector<SymExpr>{s0, SymExpr(3)}));
  // The checked-in version 2 file (also the fuzzers' seed) loads.
  auto file = graph::from_json(aotgrad::testing::read_file(AOTGRAD_TEST_DATA "/symbolic_linear_joint.json"));
  EXPECT_EQ(file->guards.size(), 2u);
  EXPECT_NE(graph::print_readable(*file).find("# Guards: s0 >= 2, Ne(Mod(((3*s0 + 1)//2), 4) + Max(2, s0), 0)"),
            std::string::npos);
  // A version 1 file (no symbols) reads as before.
  models::Instance inst = models::instantiate(models::find_model("simple_linear"));
  auto plain = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args).graph_module;
  std::string v1 = graph::to_json(*plain);
  v1.replace(v1.find("\"version\": 2"), 12, "\"version\": 1");
  EXPECT_EQ(graph::print_readable(*graph::from_json(v1)), graph::print_readable(*plain));
}

TEST(SymbolicGraph, BadSymbolicFieldsAreClearErrors) {
  const std::string good = graph::to_json(*symbolic_linear());
  auto with = [&](const std::string& from, const std::string& to) {
    std::string t = good;
    const size_t at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) t.replace(at, from.size(), to);
    return error_of([&] { graph::from_json(t); });
  };
  EXPECT_NE(with("\"s0\",", "\"s0 +\",").find("expected an integer, a symbol"), std::string::npos);
  EXPECT_NE(with("\"s0\",", "\"s1\",").find("mentions s1, but the graph has 1 symbol(s)"), std::string::npos);
  EXPECT_NE(with("\"placeholder\": \"primals_3\"", "\"placeholder\": \"nope\"").find("not a tensor placeholder"),
            std::string::npos);
  EXPECT_NE(with("\"dim\": 0", "\"dim\": 5").find("dimension 5 of 'primals_3', which has 2"), std::string::npos);
  EXPECT_NE(with("\"rel\": \">=\"", "\"rel\": \"~\"").find("a guard's rel must be one of"), std::string::npos);
  EXPECT_NE(with("\"version\": 2", "\"version\": 3").find("reads versions 1 to 2"), std::string::npos);
}

TEST(SymbolicGraph, BindsSymbolsFromTheInputsAndChecksEveryGuard) {
  auto gm = symbolic_linear();  // primals_1 [2, 3], primals_2 [2], primals_3 [s0, 3], tangents_1 [s0, 2]
  const auto b = graph::bind_symbols(*gm, {{2, 3}, {2}, {7, 3}, {7, 2}});
  EXPECT_EQ(b, (std::map<int64_t, int64_t>{{0, 7}}));
  EXPECT_NE(error_of([&] {
              graph::bind_symbols(*gm, {{2, 3}, {2}, {7, 3}, {8, 2}});
            })
                .find("input 'tangents_1' must be f32[s0, 2], that is [7, 2] with s0 = 7 (primals_3.size(0)), but got "
                      "[8, 2]"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              graph::bind_symbols(*gm, {{2, 4}, {2}, {7, 3}, {7, 2}});
            }).find("input 'primals_1' must be f32[2, 3], but got [2, 4]"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              graph::bind_symbols(*gm, {{2, 3}, {2}, {1, 3}, {1, 2}});
            }).find("the sizes break the guard s0 >= 2 (a test): s0 = 1 (primals_3.size(0))"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              graph::bind_symbols(*gm, {{2, 3}, {2}, {}, {7, 2}});
            }).find("input 'primals_3' must have a dimension 0 (s0), but got []"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              graph::bind_symbols(*gm, {{2, 3}});
            }).find("the graph takes 4 inputs, but got 1"),
            std::string::npos);
}
