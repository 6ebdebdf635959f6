// SymExpr: the canonical form and its arithmetic (include/aotgrad/sym.h).
#include <algorithm>

#include "aotgrad/sym.h"
#include "support/error.h"

namespace aotgrad {

namespace {
using Term = SymExpr::Term;
using Atom = SymExpr::Atom;
using AtomPtr = std::shared_ptr<const Atom>;

// A total order on atoms: symbols by index first, then the other kinds.
int compare_atoms(const Atom& a, const Atom& b) {
  if (a.kind != b.kind) return a.kind < b.kind ? -1 : 1;
  if (a.kind == Atom::Kind::Symbol) return a.symbol == b.symbol ? 0 : (a.symbol < b.symbol ? -1 : 1);
  for (size_t i = 0; i < std::min(a.args.size(), b.args.size()); ++i) {
    if (a.args[i] < b.args[i]) return -1;
    if (b.args[i] < a.args[i]) return 1;
  }
  return a.args.size() == b.args.size() ? 0 : (a.args.size() < b.args.size() ? -1 : 1);
}

// sympy's lex order on monomials: at the first atom (in atom order) whose powers
// differ, the monomial with the higher power comes first; the constant comes last.
// Returns <0 if a comes before b, 0 for the same monomial.
int compare_monomials(const Term& a, const Term& b) {
  size_t i = 0, j = 0;
  while (i < a.factors.size() || j < b.factors.size()) {
    if (i == a.factors.size()) return 1;   // b has an atom a lacks: b first
    if (j == b.factors.size()) return -1;  // and the other way round
    const int c = compare_atoms(*a.factors[i].first, *b.factors[j].first);
    if (c < 0) return -1;  // a has an earlier atom b lacks (power 0 in b)
    if (c > 0) return 1;
    if (a.factors[i].second != b.factors[j].second) return a.factors[i].second > b.factors[j].second ? -1 : 1;
    ++i;
    ++j;
  }
  return 0;
}

int64_t checked_add(int64_t a, int64_t b) {
  int64_t r = 0;
  AG_CHECK(!__builtin_add_overflow(a, b, &r), "size expression: {} + {} overflows int64", a, b);
  return r;
}
int64_t checked_mul(int64_t a, int64_t b) {
  int64_t r = 0;
  AG_CHECK(!__builtin_mul_overflow(a, b, &r), "size expression: {} * {} overflows int64", a, b);
  return r;
}

// Python's // and %.
int64_t floor_div(int64_t a, int64_t b) {
  AG_CHECK(b != 0, "size expression: division by zero");
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
int64_t floor_mod(int64_t a, int64_t b) {
  return a - checked_mul(floor_div(a, b), b);
}

// Sizes are small polynomials; a bound keeps a hostile file's (s0 + ... + s20)**64
// from expanding for ever.
constexpr size_t kMaxTerms = 1024;

// Sorts and merges terms into the canonical form.
std::vector<Term> canonical(std::vector<Term> terms) {
  AG_CHECK(terms.size() <= kMaxTerms * kMaxTerms, "size expression: more than {} terms", kMaxTerms);
  std::stable_sort(terms.begin(), terms.end(),
                   [](const Term& a, const Term& b) { return compare_monomials(a, b) < 0; });
  std::vector<Term> out;
  for (Term& t : terms) {
    if (!out.empty() && compare_monomials(out.back(), t) == 0)
      out.back().coefficient = checked_add(out.back().coefficient, t.coefficient);
    else
      out.push_back(std::move(t));
    if (out.back().coefficient == 0) out.pop_back();
  }
  AG_CHECK(out.size() <= kMaxTerms, "size expression: more than {} terms", kMaxTerms);
  return out;
}

Term multiply(const Term& a, const Term& b) {
  Term t;
  t.coefficient = checked_mul(a.coefficient, b.coefficient);
  size_t i = 0, j = 0;
  while (i < a.factors.size() || j < b.factors.size()) {
    const int c = i == a.factors.size()   ? 1
                  : j == b.factors.size() ? -1
                                          : compare_atoms(*a.factors[i].first, *b.factors[j].first);
    if (c < 0) {
      t.factors.push_back(a.factors[i++]);
    } else if (c > 0) {
      t.factors.push_back(b.factors[j++]);
    } else {
      t.factors.emplace_back(a.factors[i].first, a.factors[i].second + b.factors[j].second);
      ++i;
      ++j;
    }
  }
  return t;
}

// The least value a polynomial can take with every symbol >= 1, if its non-constant
// terms all have positive coefficients (each monomial is then >= 1).
bool polynomial_lower_bound(const SymExpr& e, int64_t& bound) {
  bound = 0;
  for (const Term& t : e.terms()) {
    if (t.factors.empty()) {
      bound += t.coefficient;
      continue;
    }
    if (t.coefficient < 0) return false;
    for (const auto& [atom, power] : t.factors)
      if (atom->kind != Atom::Kind::Symbol) return false;
    bound += t.coefficient;
  }
  return true;
}
}  // namespace

SymExpr::SymExpr() = default;
SymExpr::SymExpr(int64_t constant) {
  if (constant != 0) terms_.push_back({constant, {}});
}
SymExpr::SymExpr(std::vector<Term> terms) : terms_(canonical(std::move(terms))) {}

SymExpr SymExpr::symbol(int64_t index) {
  AG_CHECK(index >= 0, "size expression: symbol index must be >= 0, got {}", index);
  auto atom = std::make_shared<Atom>();
  atom->symbol = index;
  return of_atom(atom);
}

SymExpr SymExpr::of_atom(std::shared_ptr<const Atom> atom) {
  Term t;
  t.coefficient = 1;
  t.factors.emplace_back(std::move(atom), 1);
  return SymExpr(std::vector<Term>{t});
}

bool SymExpr::is_constant() const {
  return terms_.empty() || (terms_.size() == 1 && terms_[0].factors.empty());
}
int64_t SymExpr::constant() const {
  AG_INTERNAL_CHECK(is_constant(), "size expression {} is not a constant", str());
  return terms_.empty() ? 0 : terms_[0].coefficient;
}

std::vector<int64_t> SymExpr::symbols() const {
  std::vector<int64_t> out;
  for (const Term& t : terms_)
    for (const auto& [atom, power] : t.factors) {
      if (atom->kind == Atom::Kind::Symbol) {
        out.push_back(atom->symbol);
        continue;
      }
      for (const SymExpr& a : atom->args) {
        std::vector<int64_t> inner = a.symbols();
        out.insert(out.end(), inner.begin(), inner.end());
      }
    }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

int64_t SymExpr::evaluate(const std::map<int64_t, int64_t>& bindings) const {
  int64_t sum = 0;
  for (const Term& t : terms_) {
    int64_t product = t.coefficient;
    for (const auto& [atom, power] : t.factors) {
      int64_t v = 0;
      switch (atom->kind) {
        case Atom::Kind::Symbol: {
          auto it = bindings.find(atom->symbol);
          AG_CHECK(it != bindings.end(), "size expression {}: symbol s{} has no value", str(), atom->symbol);
          v = it->second;
          break;
        }
        case Atom::Kind::FloorDiv:
          v = floor_div(atom->args[0].evaluate(bindings), atom->args[1].evaluate(bindings));
          break;
        case Atom::Kind::Mod:
          v = floor_mod(atom->args[0].evaluate(bindings), atom->args[1].evaluate(bindings));
          break;
        case Atom::Kind::Max:
          v = std::max(atom->args[0].evaluate(bindings), atom->args[1].evaluate(bindings));
          break;
      }
      for (int64_t p = 0; p < power; ++p) product = checked_mul(product, v);
    }
    sum = checked_add(sum, product);
  }
  return sum;
}

SymExpr operator+(const SymExpr& a, const SymExpr& b) {
  std::vector<Term> terms = a.terms_;
  terms.insert(terms.end(), b.terms_.begin(), b.terms_.end());
  return SymExpr(std::move(terms));
}
SymExpr operator-(const SymExpr& a) {
  std::vector<Term> terms = a.terms_;
  for (Term& t : terms) t.coefficient = checked_mul(t.coefficient, -1);
  return SymExpr(std::move(terms));
}
SymExpr operator-(const SymExpr& a, const SymExpr& b) {
  return a + (-b);
}
SymExpr operator*(const SymExpr& a, const SymExpr& b) {
  AG_CHECK(a.terms_.size() * b.terms_.size() <= kMaxTerms * kMaxTerms, "size expression: more than {} terms",
           kMaxTerms);
  std::vector<Term> terms;
  for (const Term& x : a.terms_)
    for (const Term& y : b.terms_) terms.push_back(multiply(x, y));
  return SymExpr(std::move(terms));
}

// Terms whose coefficient c divides go exactly (they are multiples of c for integer
// symbols); what is left stays inside the floor division.
SymExpr floordiv(const SymExpr& a, const SymExpr& b) {
  if (b.is_constant()) {
    const int64_t c = b.constant();
    AG_CHECK(c != 0, "size expression: {} // 0", a.str());
    if (a.is_constant()) return SymExpr(floor_div(a.constant(), c));
    std::vector<Term> exact, rest;
    for (const Term& t : a.terms_) (t.coefficient % c == 0 ? exact : rest).push_back(t);
    for (Term& t : exact) t.coefficient /= c;
    const SymExpr r(std::move(rest));
    if (r.is_constant()) return SymExpr(std::move(exact)) + SymExpr(floor_div(r.constant(), c));
    auto atom = std::make_shared<Atom>();
    atom->kind = Atom::Kind::FloorDiv;
    atom->args = {r, b};
    return SymExpr(std::move(exact)) + SymExpr::of_atom(atom);
  }
  if (a == b) return SymExpr(1);  // sizes are >= 1
  auto atom = std::make_shared<Atom>();
  atom->kind = Atom::Kind::FloorDiv;
  atom->args = {a, b};
  return SymExpr::of_atom(atom);
}

SymExpr mod(const SymExpr& a, const SymExpr& b) {
  if (b.is_constant()) {
    const int64_t c = b.constant();
    AG_CHECK(c != 0, "size expression: Mod({}, 0)", a.str());
    std::vector<Term> rest;
    for (const Term& t : a.terms_)
      if (t.coefficient % c != 0) rest.push_back(t);
    const SymExpr r(std::move(rest));
    if (r.is_constant()) return SymExpr(floor_mod(r.constant(), c));
    auto atom = std::make_shared<Atom>();
    atom->kind = Atom::Kind::Mod;
    atom->args = {r, b};
    return SymExpr::of_atom(atom);
  }
  if (a == b) return SymExpr(0);
  auto atom = std::make_shared<Atom>();
  atom->kind = Atom::Kind::Mod;
  atom->args = {a, b};
  return SymExpr::of_atom(atom);
}

SymExpr max(const SymExpr& a, const SymExpr& b) {
  const SymExpr d = a - b;
  if (d.is_constant()) return d.constant() >= 0 ? a : b;
  int64_t bound = 0;
  if (b.is_constant() && polynomial_lower_bound(a, bound) && bound >= b.constant()) return a;
  if (a.is_constant() && polynomial_lower_bound(b, bound) && bound >= a.constant()) return b;
  auto atom = std::make_shared<Atom>();
  atom->kind = Atom::Kind::Max;
  atom->args = b < a ? std::vector<SymExpr>{b, a} : std::vector<SymExpr>{a, b};  // Max(2, s0), as sympy
  return SymExpr::of_atom(atom);
}

bool SymExpr::operator==(const SymExpr& o) const {
  if (terms_.size() != o.terms_.size()) return false;
  for (size_t i = 0; i < terms_.size(); ++i)
    if (terms_[i].coefficient != o.terms_[i].coefficient || compare_monomials(terms_[i], o.terms_[i]) != 0)
      return false;
  return true;
}

// Constants before everything else, then monomial by monomial.
bool SymExpr::operator<(const SymExpr& o) const {
  if (is_constant() != o.is_constant()) return is_constant();
  if (is_constant()) return constant() < o.constant();
  for (size_t i = 0; i < std::min(terms_.size(), o.terms_.size()); ++i) {
    const int c = compare_monomials(terms_[i], o.terms_[i]);
    if (c != 0) return c < 0;
    if (terms_[i].coefficient != o.terms_[i].coefficient) return terms_[i].coefficient < o.terms_[i].coefficient;
  }
  return terms_.size() < o.terms_.size();
}

SymExpr SymExpr::substitute(const std::map<int64_t, SymExpr>& values) const {
  SymExpr sum;
  for (const Term& t : terms_) {
    SymExpr product(t.coefficient);
    for (const auto& [atom, power] : t.factors) {
      SymExpr v;
      if (atom->kind == Atom::Kind::Symbol) {
        auto it = values.find(atom->symbol);
        v = it != values.end() ? it->second : SymExpr::symbol(atom->symbol);
      } else {
        const SymExpr a = atom->args[0].substitute(values), b = atom->args[1].substitute(values);
        v = atom->kind == Atom::Kind::FloorDiv ? floordiv(a, b) : atom->kind == Atom::Kind::Mod ? mod(a, b) : max(a, b);
      }
      for (int64_t p = 0; p < power; ++p) product = product * v;
    }
    sum = sum + product;
  }
  return sum;
}

std::optional<int64_t> SymExpr::lower_bound() const {
  int64_t bound = 0;
  if (!polynomial_lower_bound(*this, bound)) return std::nullopt;
  return bound;
}

SymInt floordiv(const SymInt& a, const SymInt& b) {
  AG_CHECK(b.hint > 0, "size expression: division of {} by {}, which is not positive", a.expr.str(), b.expr.str());
  return {floordiv(a.expr, b.expr), floor_div(a.hint, b.hint)};
}

std::string sym_shape_str(const SymShape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + s[i].expr.str();
  return out + "]";
}

std::vector<int64_t> hints_of(const SymShape& s) {
  std::vector<int64_t> out;
  out.reserve(s.size());
  for (const SymInt& v : s) out.push_back(v.hint);
  return out;
}

bool SymGuard::holds(const std::map<int64_t, int64_t>& bindings) const {
  const int64_t l = lhs.evaluate(bindings), r = rhs.evaluate(bindings);
  switch (rel) {
    case Rel::Eq:
      return l == r;
    case Rel::Ne:
      return l != r;
    case Rel::Lt:
      return l < r;
    case Rel::Le:
      return l <= r;
    case Rel::Gt:
      return l > r;
    case Rel::Ge:
      return l >= r;
  }
  return false;
}

}  // namespace aotgrad
