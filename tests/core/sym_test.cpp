// Size expressions (include/aotgrad/sym.h). The printed forms are sympy's
// (sympy 1.14, symbols integer and positive), as PyTorch prints its sizes; the
// values are Python's // and %.
#include <gtest/gtest.h>

#include "aotgrad/sym.h"
#include "test_util.h"

using namespace aotgrad;
using aotgrad::testing::error_of;

namespace {
const SymExpr s0 = SymExpr::symbol(0), s1 = SymExpr::symbol(1), s2 = SymExpr::symbol(2);
}

TEST(SymExpr, PolynomialsHaveOneFormPrintedAsSympyPrintsThem) {
  EXPECT_EQ((s0 * 128).str(), "128*s0");
  EXPECT_EQ((SymExpr(4) * s0 * 128).str(), "512*s0");
  EXPECT_EQ(((s0 + 1) * (s0 - 1)).str(), "s0**2 - 1");
  EXPECT_EQ((s0 * s1 + 3 * s0 - 2).str(), "s0*s1 + 3*s0 - 2");
  EXPECT_EQ(((s0 + s1) * (s0 + s1)).str(), "s0**2 + 2*s0*s1 + s1**2");
  EXPECT_EQ((s1 * s1 + s0).str(), "s0 + s1**2");  // lex order, not degree first
  EXPECT_EQ((s0 * s1 * s1 + s0 * s0 * s1).str(), "s0**2*s1 + s0*s1**2");
  EXPECT_EQ((s2 * s0 + s1 * s1).str(), "s0*s2 + s1**2");
  EXPECT_EQ((s0 * s1 + s0 + s1).str(), "s0*s1 + s0 + s1");
  EXPECT_EQ((s0 - s1 + s2).str(), "s0 - s1 + s2");
  EXPECT_EQ((-s0 - s1 + 4).str(), "-s0 - s1 + 4");
  EXPECT_EQ((-s0).str(), "-s0");
  EXPECT_EQ((s0 - s0).str(), "0");
  EXPECT_TRUE((s0 - s0).is_constant());
  EXPECT_EQ(s0 * 128, 128 * s0);
  EXPECT_EQ((s0 + 1) * (s0 + 1) - s0 * s0 - 2 * s0, SymExpr(1));
  EXPECT_NE(s0, s1);
}

TEST(SymExpr, FloorDivisionModuloAndMaxSimplify) {
  EXPECT_EQ(floordiv(128 * s0, 128), s0);
  EXPECT_EQ(floordiv(128 * s0 + 3, 128), s0);  // (128*s0 + 3)//128 = s0 for integer s0
  EXPECT_EQ(floordiv(4 * s0 + 6, 4), s0 + 1);
  EXPECT_EQ(floordiv(s0 + 3, 4).str(), "((s0 + 3)//4)");
  EXPECT_EQ(floordiv(s0, 4).str(), "(s0//4)");
  EXPECT_EQ(floordiv(s0 * s1, s0 * s1), SymExpr(1));
  EXPECT_EQ(floordiv(s0, 1), s0);
  EXPECT_EQ(mod(4 * s0, 2), SymExpr(0));
  EXPECT_EQ(mod(s0 + 4, 4).str(), "Mod(s0, 4)");
  EXPECT_EQ(mod(s0, s0), SymExpr(0));
  EXPECT_EQ(max(s0, s0 + 1), s0 + 1);
  EXPECT_EQ(max(s0, 1), s0);  // sizes are >= 1
  EXPECT_EQ(max(s0, 2).str(), "Max(2, s0)");
  EXPECT_EQ(max(s1, s0).str(), "Max(s0, s1)");
  EXPECT_EQ(max(SymExpr(3), SymExpr(5)), SymExpr(5));
}

TEST(SymExpr, EvaluatesAsPythonRounds) {
  EXPECT_EQ(floordiv(SymExpr(-7), 2).constant(), -4);
  EXPECT_EQ(mod(SymExpr(-7), 2).constant(), 1);
  const std::map<int64_t, int64_t> b{{0, 5}, {1, 3}};
  EXPECT_EQ((s0 * s1 + 3 * s0 - 2).evaluate(b), 28);
  EXPECT_EQ(floordiv(s0 - 8, 2).evaluate(b), -2);  // (5 - 8)//2 = -2 as in Python
  EXPECT_EQ(mod(s0 - 8, s1).evaluate(b), 0);       // -3 % 3
  EXPECT_EQ(mod(s0 - 9, s1).evaluate(b), 2);       // -4 % 3
  EXPECT_EQ(max(s0, s1 * 2).evaluate(b), 6);
  EXPECT_EQ((s0 * s0 * s1).symbols(), (std::vector<int64_t>{0, 1}));
  EXPECT_NE(error_of([&] { s2.evaluate(b); }).find("symbol s2 has no value"), std::string::npos);
  EXPECT_NE(error_of([&] { floordiv(s0, s1 - 3).evaluate(b); }).find("division by zero"), std::string::npos);
  EXPECT_NE(error_of([&] { floordiv(s0, 0); }).find("// 0"), std::string::npos);
  const SymExpr big = SymExpr(int64_t{1} << 62);
  EXPECT_NE(error_of([&] { (big * s0).evaluate(b); }).find("overflows int64"), std::string::npos);
}

TEST(SymExpr, ParsesWhatItPrints) {
  const std::vector<SymExpr> cases = {s0,
                                      128 * s0,
                                      s0 * s1 + 3 * s0 - 2,
                                      -s0 - s1 + 4,
                                      (s0 + s1) * (s0 + s1),
                                      floordiv(s0 + 3, 4),
                                      floordiv(s0 * s1, s2),
                                      mod(s0 + 1, 4) + 2 * max(s1, 2),
                                      floordiv(mod(s0, 3) + s1, 2) * s2};
  for (const SymExpr& e : cases) {
    const SymExpr back = parse_sym_expr(e.str());
    EXPECT_EQ(back, e) << e.str() << " came back as " << back.str();
  }
  EXPECT_EQ(parse_sym_expr("  s0 *  4 "), 4 * s0);
}

TEST(SymExpr, BadTextIsAClearError) {
  EXPECT_NE(error_of([] { parse_sym_expr("s0 +"); }).find("expected an integer, a symbol"), std::string::npos);
  EXPECT_NE(error_of([] { parse_sym_expr("s0 s1"); }).find("expected the end at position 3"), std::string::npos);
  EXPECT_NE(error_of([] { parse_sym_expr("Mod(s0 4)"); }).find("expected ','"), std::string::npos);
  EXPECT_NE(error_of([] { parse_sym_expr("99999999999999999999"); }).find("a smaller integer"), std::string::npos);
  EXPECT_NE(error_of([] { parse_sym_expr(std::string(40, '(') + "s0" + std::string(40, ')')); }).find("less nesting"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_sym_expr("s0**0"); }).find("a power from 1 to 64"), std::string::npos);
  EXPECT_NE(error_of([] { parse_sym_expr(std::string(5000, '1')); }).find("more than the 4096 allowed"),
            std::string::npos);
  // A short text that would expand to millions of terms stops early.
  EXPECT_NE(error_of([] {
              parse_sym_expr("(s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7 + s8 + s9)**64");
            }).find("more than 1024 terms"),
            std::string::npos);
}

TEST(SymGuard, PrintsAsPyTorchAndChecksSizes) {
  const SymGuard at_least_two{s0, SymGuard::Rel::Ge, SymExpr(2), "batch_norm needs 2 values per channel"};
  const SymGuard divisible{mod(s0, 4), SymGuard::Rel::Eq, SymExpr(0), "view"};
  EXPECT_EQ(at_least_two.str(), "s0 >= 2");
  EXPECT_EQ(divisible.str(), "Eq(Mod(s0, 4), 0)");
  EXPECT_TRUE(at_least_two.holds({{0, 2}}));
  EXPECT_FALSE(at_least_two.holds({{0, 1}}));
  EXPECT_TRUE(divisible.holds({{0, 12}}));
  EXPECT_FALSE(divisible.holds({{0, 10}}));
}
