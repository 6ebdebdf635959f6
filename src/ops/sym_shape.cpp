// ShapeEnv and the helpers of symbolic shape rules (Note [Symbolic shape rules]).
#include "ops/sym_shape.h"

#include "ops/dispatch.h"
#include "ops/registry.h"
#include "support/error.h"

namespace aotgrad::ops {

namespace {
// The symbol `e` is, if it is exactly one.
std::optional<int64_t> bare_symbol(const SymExpr& e) {
  if (e.terms().size() != 1) return std::nullopt;
  const SymExpr::Term& t = e.terms()[0];
  if (t.coefficient != 1 || t.factors.size() != 1 || t.factors[0].second != 1) return std::nullopt;
  const SymExpr::Atom& a = *t.factors[0].first;
  if (a.kind != SymExpr::Atom::Kind::Symbol) return std::nullopt;
  return a.symbol;
}

// The one symbol of c*s + d (c != 0), if `e` has that form.
std::optional<int64_t> linear_symbol(const SymExpr& e) {
  std::optional<int64_t> symbol;
  for (const SymExpr::Term& t : e.terms()) {
    if (t.factors.empty()) continue;
    if (t.factors.size() != 1 || t.factors[0].second != 1) return std::nullopt;
    const SymExpr::Atom& a = *t.factors[0].first;
    if (a.kind != SymExpr::Atom::Kind::Symbol || symbol) return std::nullopt;
    symbol = a.symbol;
  }
  return symbol;
}

std::string exprs_str(const std::vector<SymExpr>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + s[i].str();
  return out + "]";
}

SymGuard::Rel flipped(SymGuard::Rel rel) {
  switch (rel) {
    case SymGuard::Rel::Lt:
      return SymGuard::Rel::Gt;
    case SymGuard::Rel::Le:
      return SymGuard::Rel::Ge;
    case SymGuard::Rel::Gt:
      return SymGuard::Rel::Lt;
    case SymGuard::Rel::Ge:
      return SymGuard::Rel::Le;
    default:
      return rel;
  }
}
}  // namespace

SymExpr ShapeEnv::new_symbol(int64_t hint) {
  const auto k = static_cast<int64_t>(hints_.size());
  hints_[k] = hint;
  return SymExpr::symbol(k);
}

SymExpr ShapeEnv::canonical(const SymExpr& e) const {
  return replacements_.empty() ? e : e.substitute(replacements_);
}

void ShapeEnv::replace(int64_t symbol, const SymExpr& value) {
  const std::map<int64_t, SymExpr> one{{symbol, value}};
  for (auto& [k, v] : replacements_) v = v.substitute(one);
  replacements_[symbol] = value;
}

void ShapeEnv::expect_eq(const SymExpr& lhs, const SymExpr& rhs, const std::string& reason) {
  const SymExpr a = canonical(lhs), b = canonical(rhs);
  if (a == b) return;
  const std::string why = where.empty() ? reason : where + ": " + reason;
  const int64_t ha = hint(a), hb = hint(b);
  AG_CHECK(ha == hb, "{}: the sizes {} and {} must be equal, but are {} and {}", why, a.str(), b.str(), ha, hb);
  const auto sa = bare_symbol(a), sb = bare_symbol(b);
  if (sa && sb) {  // two symbols found equal: the later one is the earlier from now on
    guards_.push_back(
        {SymExpr::symbol(std::min(*sa, *sb)), SymGuard::Rel::Eq, SymExpr::symbol(std::max(*sa, *sb)), why});
    replace(std::max(*sa, *sb), SymExpr::symbol(std::min(*sa, *sb)));
    return;
  }
  for (const auto& [e, other] : {std::pair{a, b}, std::pair{b, a}}) {
    const auto s = linear_symbol(e);
    if (!other.is_constant() || !s) continue;
    pins_.push_back({*s, hints_.at(*s), why, node});
    replace(*s, SymExpr(hints_.at(*s)));
    return;
  }
  guards_.push_back({a, SymGuard::Rel::Eq, b, why});
}

void ShapeEnv::expect(const SymExpr& lhs, SymGuard::Rel rel, const SymExpr& rhs, const std::string& reason) {
  if (rel == SymGuard::Rel::Eq) return expect_eq(lhs, rhs, reason);
  const SymExpr a = canonical(lhs), b = canonical(rhs);
  const std::string why = where.empty() ? reason : where + ": " + reason;
  const SymGuard guard{a, rel, b, why};
  AG_CHECK(guard.holds(hints_), "{}: {} does not hold for the example's sizes", why, guard.str());
  // Always true when the difference's least value says so (symbols are >= 1).
  const bool greater = rel == SymGuard::Rel::Gt || rel == SymGuard::Rel::Ge;
  const SymExpr diff = greater ? a - b : b - a;
  const SymGuard::Rel as_greater = greater ? rel : flipped(rel);
  if (auto low = diff.lower_bound()) {
    if (as_greater == SymGuard::Rel::Ge && *low >= 0) return;
    if (as_greater == SymGuard::Rel::Gt && *low > 0) return;
  }
  if (rel == SymGuard::Rel::Ne && diff.is_constant()) return;
  guards_.push_back(guard);
}

void ShapeEnv::specialize(const SymExpr& e, const std::string& reason) {
  const std::string why = where.empty() ? reason : where + ": " + reason;
  for (int64_t s : canonical(e).symbols()) {
    pins_.push_back({s, hints_.at(s), why, node});
    replace(s, SymExpr(hints_.at(s)));
  }
}

std::vector<SymExpr> SymRuleCall::sizes(size_t arg) const {
  const IValue& v = args.at(arg);
  if (!v.is_tensor()) return {};  // a wrapped number: 0-d
  std::vector<SymExpr> out;
  for (const SymInt& s : v.to_tensor().sym_sizes()) out.push_back(env.canonical(s.expr));
  return out;
}

std::vector<SymExpr> SymRuleCall::ints(size_t arg) const {
  std::vector<SymExpr> out;
  for (const SymInt& s : args.at(arg).to_sym_int_list()) out.push_back(env.canonical(s.expr));
  return out;
}

SymExpr SymRuleCall::int_arg(size_t arg) const {
  return env.canonical(args.at(arg).to_sym_int().expr);
}

int64_t SymRuleCall::result_rank(size_t i) const {
  return flatten_outputs(results).at(i).dim();
}

void SymRuleCall::expect_eq(const SymExpr& a, const SymExpr& b, const std::string& what) const {
  env.expect_eq(a, b, what);
}

std::vector<SymExpr> SymRuleCall::broadcast(const std::vector<SymExpr>& a, const std::vector<SymExpr>& b) const {
  const size_t n = std::max(a.size(), b.size());
  std::vector<SymExpr> out(n);
  for (size_t i = 0; i < n; ++i) {
    const bool has_a = i + a.size() >= n, has_b = i + b.size() >= n;
    const SymExpr x = has_a ? a[i + a.size() - n] : SymExpr(1), y = has_b ? b[i + b.size() - n] : SymExpr(1);
    // A size that is 1 in the example stretches; a symbol (never 1 in an example)
    // meets the other side's size.
    if (x == SymExpr(1)) {
      out[i] = y;
    } else if (y == SymExpr(1)) {
      out[i] = x;
    } else {
      expect_eq(x, y, fmt::format("broadcasting {} against {} (dim {})", exprs_str(a), exprs_str(b), i));
      out[i] = env.canonical(x);
    }
  }
  return out;
}

SymShapes constant_sizes(const Outputs& outs) {
  SymShapes out;
  for (const Tensor& t : flatten_outputs(outs)) {
    std::vector<SymExpr> s;
    if (t.defined())
      for (int64_t d : t.sizes()) s.emplace_back(d);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace aotgrad::ops
