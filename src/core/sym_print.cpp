// SymExpr as text: printed as PyTorch prints sizes, and parsed back (graph files
// store sizes that way).
#include <cctype>

#include "aotgrad/sym.h"
#include "support/error.h"

namespace aotgrad {

namespace {
using Atom = SymExpr::Atom;

bool is_sum(const SymExpr& e) {
  return e.terms().size() > 1;
}

// Built with appends: GCC 12 warns falsely (-Wrestrict) on "literal" + std::string.
std::string call_str(const char* name, const SymExpr& a, const SymExpr& b) {
  std::string s(name);
  s += "(";
  s += a.str();
  s += ", ";
  s += b.str();
  s += ")";
  return s;
}

std::string operand_str(const SymExpr& e) {
  if (!is_sum(e)) return e.str();
  std::string s("(");
  s += e.str();
  s += ")";
  return s;
}

std::string atom_str(const Atom& a) {
  switch (a.kind) {
    case Atom::Kind::Symbol: {
      std::string s("s");
      s += std::to_string(a.symbol);
      return s;
    }
    case Atom::Kind::FloorDiv: {
      std::string s("(");
      s += operand_str(a.args[0]);
      s += "//";
      s += operand_str(a.args[1]);
      s += ")";
      return s;
    }
    case Atom::Kind::Mod:
      return call_str("Mod", a.args[0], a.args[1]);
    case Atom::Kind::Max:
      return call_str("Max", a.args[0], a.args[1]);
  }
  return "?";
}

// A term without its sign: "128*s0", "s0**2*s1", "7".
std::string magnitude_str(const SymExpr::Term& t) {
  const int64_t c = t.coefficient < 0 ? -t.coefficient : t.coefficient;
  std::string s = t.factors.empty() || c != 1 ? std::to_string(c) : "";
  for (const auto& [atom, power] : t.factors) {
    if (!s.empty()) s += "*";
    s += atom_str(*atom);
    if (power != 1) s += "**" + std::to_string(power);
  }
  return s;
}
}  // namespace

std::string SymExpr::str() const {
  if (terms_.empty()) return "0";
  std::string s;
  for (size_t i = 0; i < terms_.size(); ++i) {
    const bool negative = terms_[i].coefficient < 0;
    if (i == 0)
      s += negative ? "-" : "";
    else
      s += negative ? " - " : " + ";
    s += magnitude_str(terms_[i]);
  }
  return s;
}

namespace {
// Recursive descent over the printed form:
//   sum     := product (('+' | '-') product)*
//   product := ['-'] power ('*' power)*
//   power   := primary ['**' INT]
//   primary := INT | 's' INT | 'Mod(' sum ', ' sum ')' | 'Max(' sum ', ' sum ')'
//            | '(' sum ['//' sum] ')'
class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  SymExpr parse() {
    AG_CHECK(s_.size() <= kMaxLength, "size expression: {} characters, more than the {} allowed", s_.size(),
             kMaxLength);
    SymExpr e = sum();
    skip_spaces();
    if (pos_ != s_.size()) fail("the end");
    return e;
  }

 private:
  static constexpr size_t kMaxLength = 4096;
  static constexpr int kMaxDepth = 32;
  const std::string& s_;
  size_t pos_ = 0;
  int depth_ = 0;

  [[noreturn]] void fail(const char* expected) const {
    AG_FAIL("size expression '{}': expected {} at position {}", s_, expected, pos_);
  }
  void skip_spaces() {
    while (pos_ < s_.size() && s_[pos_] == ' ') ++pos_;
  }
  bool accept(const char* token) {
    skip_spaces();
    const std::string t(token);
    if (s_.compare(pos_, t.size(), t) != 0) return false;
    pos_ += t.size();
    return true;
  }
  void expect(const char* token) {
    if (!accept(token)) fail(("'" + std::string(token) + "'").c_str());
  }
  int64_t integer() {
    skip_spaces();
    const size_t start = pos_;
    int64_t v = 0;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s_[pos_] - '0', &v)) fail("a smaller integer");
      ++pos_;
    }
    if (pos_ == start) fail("an integer");
    return v;
  }

  SymExpr sum() {
    if (++depth_ > kMaxDepth) fail("less nesting");
    SymExpr e = product();
    for (;;) {
      if (accept("+"))
        e = e + product();
      else if (accept("-"))
        e = e - product();
      else
        break;
    }
    --depth_;
    return e;
  }
  SymExpr product() {
    const bool negative = accept("-");
    SymExpr e = power();
    while (!peek("**") && !peek("//") && accept("*")) e = e * power();
    return negative ? -e : e;
  }
  bool peek(const char* token) {
    skip_spaces();
    return s_.compare(pos_, std::string(token).size(), token) == 0;
  }
  SymExpr power() {
    SymExpr base = primary();
    if (!accept("**")) return base;
    const int64_t n = integer();
    if (n < 1 || n > 64) fail("a power from 1 to 64");
    SymExpr e = base;
    for (int64_t i = 1; i < n; ++i) e = e * base;
    return e;
  }
  SymExpr primary() {
    skip_spaces();
    if (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) return SymExpr(integer());
    if (accept("Mod(") || accept("Max(")) {
      const bool is_mod = s_[pos_ - 4] == 'M' && s_[pos_ - 3] == 'o';
      SymExpr a = sum();
      expect(",");
      SymExpr b = sum();
      expect(")");
      return is_mod ? mod(a, b) : max(a, b);
    }
    if (accept("s")) return SymExpr::symbol(integer());
    if (accept("(")) {
      SymExpr a = sum();
      if (accept("//")) {
        SymExpr b = sum();
        expect(")");
        return floordiv(a, b);
      }
      expect(")");
      return a;
    }
    fail("an integer, a symbol s<N>, Mod(, Max( or (");
  }
};
}  // namespace

SymExpr parse_sym_expr(const std::string& text) {
  return Parser(text).parse();
}

const char* SymGuard::rel_text(Rel rel) {
  switch (rel) {
    case Rel::Eq:
      return "==";
    case Rel::Ne:
      return "!=";
    case Rel::Lt:
      return "<";
    case Rel::Le:
      return "<=";
    case Rel::Gt:
      return ">";
    case Rel::Ge:
      return ">=";
  }
  return "?";
}

bool SymGuard::parse_rel(const std::string& text, Rel& rel) {
  for (Rel r : {Rel::Eq, Rel::Ne, Rel::Lt, Rel::Le, Rel::Gt, Rel::Ge})
    if (text == rel_text(r)) {
      rel = r;
      return true;
    }
  return false;
}

// Equality as sympy prints it (Eq(a, b), Ne(a, b)); orderings infix.
std::string SymGuard::str() const {
  if (rel == Rel::Eq || rel == Rel::Ne) return call_str(rel == Rel::Eq ? "Eq" : "Ne", lhs, rhs);
  std::string s = lhs.str();
  s += " ";
  s += rel_text(rel);
  s += " ";
  s += rhs.str();
  return s;
}

}  // namespace aotgrad
