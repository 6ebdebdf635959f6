// Size expressions for symbolic shapes (issue 20; docs/SYMBOLIC_SHAPES.md).
//
//   SymExpr b = SymExpr::symbol(0), s = SymExpr::symbol(1);   // s0, s1
//   SymExpr rows = b * s;                                       // s0*s1
//   SymExpr half = floordiv(rows + 1, 2);                       // ((s0*s1 + 1)//2)
//   half.evaluate({{0, 4}, {1, 3}});                           // 6
//
// An expression is kept in one canonical form, so two expressions that are equal
// as polynomials compare equal and print alike: a sum of terms, each an integer
// coefficient times a product of atoms raised to positive powers; an atom is a
// symbol (s0, s1, ...) or an operation that is not a polynomial — floor division,
// modulo, max — whose operands are canonical themselves. Simplification happens on
// construction: like terms merge, constants fold, (128*s0)//128 is s0, Mod(4*s0, 2)
// is 0, Max(s0, s0 + 1) is s0 + 1. Symbols stand for sizes and are assumed >= 1.
// Division and modulo round as Python's // and % do (toward negative infinity).
//
// Printed as PyTorch prints its sizes (sympy's order: higher degree first, the
// constant last): "128*s0", "s0*s1 + 1", "s0**2", "((s0 + 3)//4)", "Mod(s0, 4)",
// "Max(1, s0)". parse_sym_expr reads that text back, as graph files store it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace aotgrad {

class SymExpr {
 public:
  /// The constant 0.
  SymExpr();
  SymExpr(int64_t constant);  // NOLINT: sizes mix plain integers and expressions
  /// The symbol s<index>.
  static SymExpr symbol(int64_t index);

  bool is_constant() const;
  /// The value of a constant expression (an internal error otherwise).
  int64_t constant() const;
  /// The symbols it mentions, in increasing order.
  std::vector<int64_t> symbols() const;
  /// Its value with each symbol bound (a user error naming an unbound symbol, or a
  /// division or modulo by zero).
  int64_t evaluate(const std::map<int64_t, int64_t>& bindings) const;
  std::string str() const;
  /// This expression with symbols replaced (those not in `values` stay as they are).
  SymExpr substitute(const std::map<int64_t, SymExpr>& values) const;
  /// The least value it can take with every symbol >= 1, when that is plain to see: a
  /// polynomial in symbols whose non-constant terms have positive coefficients (each
  /// monomial is then >= 1). nullopt otherwise.
  std::optional<int64_t> lower_bound() const;

  friend SymExpr operator+(const SymExpr& a, const SymExpr& b);
  friend SymExpr operator-(const SymExpr& a, const SymExpr& b);
  friend SymExpr operator*(const SymExpr& a, const SymExpr& b);
  friend SymExpr operator-(const SymExpr& a);
  friend SymExpr floordiv(const SymExpr& a, const SymExpr& b);
  friend SymExpr mod(const SymExpr& a, const SymExpr& b);
  friend SymExpr max(const SymExpr& a, const SymExpr& b);
  bool operator==(const SymExpr& o) const;
  bool operator!=(const SymExpr& o) const { return !(*this == o); }
  /// A total order on canonical forms (for sorting; not numeric).
  bool operator<(const SymExpr& o) const;

  struct Atom;
  struct Term {
    int64_t coefficient = 0;
    /// Atoms with their powers, sorted by the atom's order; powers >= 1.
    std::vector<std::pair<std::shared_ptr<const Atom>, int64_t>> factors;
  };
  /// The canonical terms, highest degree first, the constant (if any) last.
  const std::vector<Term>& terms() const { return terms_; }

 private:
  explicit SymExpr(std::vector<Term> terms);
  static SymExpr of_atom(std::shared_ptr<const Atom> atom);
  std::vector<Term> terms_;
};

/// The operation behind an atom that is not a symbol.
struct SymExpr::Atom {
  enum class Kind { Symbol, FloorDiv, Mod, Max };
  Kind kind = Kind::Symbol;
  int64_t symbol = 0;         // Kind::Symbol
  std::vector<SymExpr> args;  // the operands otherwise
};

/// A size while a symbolic trace runs: its expression and its value in the example
/// being traced (PyTorch's "hint"). Code that computes sizes for ops' arguments
/// (view's shape, a slice's end) computes with SymInts, so the graph records the
/// expression and the shape rules see the value. A plain integer is a constant.
struct SymInt {
  SymExpr expr;
  int64_t hint = 0;
  SymInt(int64_t v) : expr(v), hint(v) {}  // NOLINT: sizes mix plain integers and symbols
  SymInt(int v) : SymInt(int64_t{v}) {}    // NOLINT
  SymInt(SymExpr e, int64_t h) : expr(std::move(e)), hint(h) {}
  bool is_symbolic() const { return !expr.is_constant(); }

  friend SymInt operator+(const SymInt& a, const SymInt& b) { return {a.expr + b.expr, a.hint + b.hint}; }
  friend SymInt operator-(const SymInt& a, const SymInt& b) { return {a.expr - b.expr, a.hint - b.hint}; }
  friend SymInt operator*(const SymInt& a, const SymInt& b) { return {a.expr * b.expr, a.hint * b.hint}; }
  /// Python's // (the divisor must be positive).
  friend SymInt floordiv(const SymInt& a, const SymInt& b);
};
using SymShape = std::vector<SymInt>;
/// "[s0, 3]"
std::string sym_shape_str(const SymShape& s);
/// The hints of a symbolic shape.
std::vector<int64_t> hints_of(const SymShape& s);

/// Reads an expression as SymExpr::str() prints it (a user error naming the position
/// and what was expected otherwise; input is bounded in length and nesting).
SymExpr parse_sym_expr(const std::string& text);

/// An assumption a trace made about the symbols: `lhs rel rhs`, checked on every
/// call with the sizes in hand.
struct SymGuard {
  enum class Rel { Eq, Ne, Lt, Le, Gt, Ge };
  SymExpr lhs;
  Rel rel = Rel::Eq;
  SymExpr rhs;
  /// Why the trace assumed it ("batch_norm needs more than one value per channel").
  std::string reason;

  bool holds(const std::map<int64_t, int64_t>& bindings) const;
  /// "==", "!=", "<", "<=", ">", ">=" (graph files store relations so); parse_rel is
  /// its inverse (false for any other text).
  static const char* rel_text(Rel rel);
  static bool parse_rel(const std::string& text, Rel& rel);
  /// "s0 >= 2", "Eq(Mod(s0, 4), 0)" as PyTorch prints guards.
  std::string str() const;
};

}  // namespace aotgrad
