// Symbolic shape rules of the view ops, joins and matrix products (Note [Symbolic
// shape rules]).
#include "core/shape.h"
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

namespace {
// Sizes past this are no sizes: a slice's end of INT64_MAX means "to the end".
constexpr int64_t kNoSize = kMaxNumel;

SymExpr product(const std::vector<SymExpr>& s) {
  SymExpr p(1);
  for (const SymExpr& e : s) p = p * e;
  return p;
}

// min(v, n) for a slice bound v >= 0 of a dim of size n: decided at the example's
// values and kept by a guard. A tie keeps the symbolic side (x[:, :T] with T = 64 on
// a dim of 64 stays T for every T <= 64).
SymExpr clamp_to_size(const SymRuleCall& c, const SymExpr& v, const SymExpr& n, const char* what) {
  if (v.is_constant() && v.constant() >= kNoSize) return n;
  const int64_t hv = c.env.hint(v), hn = c.env.hint(n);
  if (hv < hn || (hv == hn && !v.is_constant())) {
    c.env.expect(v, SymGuard::Rel::Le, n, fmt::format("slice {} within the dim", what));
    return v;
  }
  c.env.expect(v, SymGuard::Rel::Ge, n, fmt::format("slice {} past the dim", what));
  return n;
}

SymShapes slice_rule(const SymRuleCall& c) {
  std::vector<SymExpr> out = c.sizes(0);
  const auto d = static_cast<size_t>(normalize_dim(c.args[1].to_int(), static_cast<int64_t>(out.size()), "slice"));
  const SymExpr n = out[d];
  auto bound = [&](size_t arg, const SymExpr& none) -> SymExpr {
    if (c.args[arg].is_none()) return none;
    SymExpr v = c.int_arg(arg);
    if (c.env.hint(v) < 0) {  // counts from the end
      if (!v.is_constant()) c.env.specialize(v, "a slice bound that counts from the end");
      v = c.env.canonical(v) + n;
    }
    return v;
  };
  const SymExpr start = clamp_to_size(c, bound(2, SymExpr(0)), n, "start");
  const SymExpr end = clamp_to_size(c, bound(3, n), n, "end");
  c.env.expect(end, SymGuard::Rel::Ge, start, "a slice's end at or after its start");
  const SymExpr step = c.int_arg(4);
  if (!step.is_constant()) c.env.specialize(step, "a slice's step");
  const SymExpr len = end - start;
  out[d] = step == SymExpr(1) ? len : floordiv(len + c.env.canonical(step) - 1, c.env.canonical(step));
  return {out};
}

// view and _unsafe_view: the shape asked for, a -1 resolved, the element counts equal.
SymShapes view_rule(const SymRuleCall& c) {
  const std::vector<SymExpr> in = c.sizes(0);
  std::vector<SymExpr> out = c.ints(1);
  const SymExpr numel = product(in);
  std::optional<size_t> infer;
  SymExpr known(1);
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == SymExpr(-1))
      infer = i;
    else
      known = known * out[i];
  }
  if (infer) {
    c.env.expect_eq(mod(numel, known), SymExpr(0), "view's -1 divides the elements evenly");
    out[*infer] = floordiv(c.env.canonical(numel), c.env.canonical(known));
  }
  c.expect_eq(numel, product(out), fmt::format("view keeps the number of elements"));
  for (SymExpr& e : out) e = c.env.canonical(e);
  return {out};
}

SymShapes expand_rule(const SymRuleCall& c) {
  const std::vector<SymExpr> in = c.sizes(0);
  std::vector<SymExpr> out = c.ints(1);
  const size_t lead = out.size() - in.size();
  for (size_t i = 0; i < out.size(); ++i) {
    if (i < lead) continue;
    const SymExpr& have = in[i - lead];
    if (out[i] == SymExpr(-1))
      out[i] = have;
    else if (have != SymExpr(1))
      c.expect_eq(have, out[i], fmt::format("expand keeps dim {}", i));
    out[i] = c.env.canonical(out[i]);
  }
  return {out};
}

// squeeze(dim) and squeeze(): a symbolic size is never 1 in the example; the graph
// keeps it, and a guard keeps it from being 1.
SymShapes squeeze_rule(const SymRuleCall& c, const std::vector<bool>& which) {
  std::vector<SymExpr> out;
  const std::vector<SymExpr> in = c.sizes(0);
  for (size_t d = 0; d < in.size(); ++d) {
    if (which[d] && in[d] == SymExpr(1)) continue;
    if (which[d] && !in[d].is_constant())
      c.env.expect(in[d], SymGuard::Rel::Ne, SymExpr(1), "squeeze keeps a dim that is not 1");
    out.push_back(in[d]);
  }
  return {out};
}

SymShapes cat_rule(const SymRuleCall& c) {
  std::vector<SymExpr> out;
  const TensorList& ts = c.args[0].to_tensor_list();
  for (const Tensor& t : ts) {
    if (t.dim() == 1 && t.size(0) == 0) continue;  // legacy empty tensors join anything
    std::vector<SymExpr> s;
    for (const SymInt& v : t.sym_sizes()) s.push_back(c.env.canonical(v.expr));
    if (out.empty()) {
      out = s;
      continue;
    }
    const auto d = static_cast<size_t>(normalize_dim(c.args[1].to_int(), static_cast<int64_t>(s.size()), "cat"));
    for (size_t i = 0; i < s.size(); ++i) {
      if (i == d)
        out[i] = out[i] + s[i];
      else
        c.expect_eq(out[i], s[i], fmt::format("cat's inputs agree in dim {}", i));
    }
  }
  if (out.empty()) return constant_sizes(c.results);
  for (SymExpr& e : out) e = c.env.canonical(e);
  return {out};
}

// stack: the inputs agree in every dim; a new dim of their count goes in.
SymShapes stack_rule(const SymRuleCall& c) {
  const TensorList& ts = c.args[0].to_tensor_list();
  std::vector<SymExpr> out;
  for (const SymInt& v : ts.at(0).sym_sizes()) out.push_back(c.env.canonical(v.expr));
  for (size_t t = 1; t < ts.size(); ++t) {
    const SymShape s = ts[t].sym_sizes();
    for (size_t i = 0; i < s.size(); ++i)
      c.expect_eq(out[i], s[i].expr, fmt::format("stack's inputs agree in dim {}", i));
  }
  const int64_t d = normalize_insert_dim(c.args[1].to_int(), static_cast<int64_t>(out.size()), "stack");
  out.insert(out.begin() + d, SymExpr(static_cast<int64_t>(ts.size())));
  for (SymExpr& e : out) e = c.env.canonical(e);
  return SymShapes{out};
}

// index_put: a copy of self; the values broadcast to the indexed shape (the indices'
// broadcast shape, then self's dims past the indexed ones).
SymShapes index_put_rule(const SymRuleCall& c) {
  const std::vector<SymExpr> self = c.sizes(0);
  std::vector<SymExpr> indexed;
  size_t k = 0;
  for (const Tensor& i : c.args[1].to_tensor_list()) {
    std::vector<SymExpr> s;
    for (const SymInt& v : i.defined() ? i.sym_sizes() : SymShape{}) s.push_back(v.expr);
    if (!i.defined())  // a skipped dim: its positions are not plain to see
      for (const SymExpr& e : self) c.env.specialize(e, "index_put with a None index");
    indexed = c.broadcast(indexed, s);
    ++k;
  }
  indexed.insert(indexed.end(), self.begin() + static_cast<int64_t>(std::min(k, self.size())), self.end());
  (void)c.broadcast(c.sizes(2), indexed);
  std::vector<SymExpr> out;
  for (const SymExpr& e : self) out.push_back(c.env.canonical(e));
  return SymShapes{out};
}
}  // namespace

void register_view_sym_shapes(Registry& r) {
  for (OpId id : {OpId::alias, OpId::detach, OpId::prims_view_of})
    r.sym_shape(id, [](const SymRuleCall& c) { return SymShapes{c.sizes(0)}; });
  r.sym_shape(OpId::view, view_rule);
  r.sym_shape(OpId::_unsafe_view, view_rule);
  r.sym_shape(OpId::expand, expand_rule);
  r.sym_shape(OpId::slice_Tensor, slice_rule);
  r.sym_shape(OpId::t, [](const SymRuleCall& c) {
    std::vector<SymExpr> s = c.sizes(0);
    std::reverse(s.begin(), s.end());
    return SymShapes{s};
  });
  r.sym_shape(OpId::transpose_int, [](const SymRuleCall& c) {
    std::vector<SymExpr> s = c.sizes(0);
    const auto n = static_cast<int64_t>(s.size());
    if (n == 0) return SymShapes{s};
    std::swap(s[static_cast<size_t>(normalize_dim(c.args[1].to_int(), n, "transpose"))],
              s[static_cast<size_t>(normalize_dim(c.args[2].to_int(), n, "transpose"))]);
    return SymShapes{s};
  });
  r.sym_shape(OpId::permute, [](const SymRuleCall& c) {
    const std::vector<SymExpr> s = c.sizes(0);
    std::vector<SymExpr> out;
    for (int64_t d : c.args[1].to_int_list())
      out.push_back(s[static_cast<size_t>(normalize_dim(d, static_cast<int64_t>(s.size()), "permute"))]);
    return SymShapes{out};
  });
  r.sym_shape(OpId::unsqueeze, [](const SymRuleCall& c) {
    std::vector<SymExpr> s = c.sizes(0);
    const int64_t d = normalize_insert_dim(c.args[1].to_int(), static_cast<int64_t>(s.size()), "unsqueeze");
    s.insert(s.begin() + d, SymExpr(1));
    return SymShapes{s};
  });
  r.sym_shape(OpId::squeeze_dim, [](const SymRuleCall& c) {
    const auto n = static_cast<int64_t>(c.sizes(0).size());
    std::vector<bool> which(static_cast<size_t>(n), false);
    if (n > 0) which[static_cast<size_t>(normalize_dim(c.args[1].to_int(), n, "squeeze"))] = true;
    return squeeze_rule(c, which);
  });
  r.sym_shape(OpId::squeeze,
              [](const SymRuleCall& c) { return squeeze_rule(c, std::vector<bool>(c.sizes(0).size(), true)); });
  r.sym_shape(OpId::select_int, [](const SymRuleCall& c) {
    std::vector<SymExpr> s = c.sizes(0);
    s.erase(s.begin() + normalize_dim(c.args[1].to_int(), static_cast<int64_t>(s.size()), "select"));
    return SymShapes{s};
  });
  for (OpId id : {OpId::slice_backward, OpId::select_backward})
    r.sym_shape(id, [](const SymRuleCall& c) { return SymShapes{c.ints(1)}; });
  r.sym_shape(OpId::cat, cat_rule);
  r.sym_shape(OpId::stack, stack_rule);
  r.sym_shape(OpId::index_put, index_put_rule);
}

void register_linalg_sym_shapes(Registry& r) {
  r.sym_shape(OpId::mm, [](const SymRuleCall& c) {
    const auto a = c.sizes(0), b = c.sizes(1);
    c.expect_eq(a[1], b[0], "mm's self dim 1 and mat2 dim 0");
    return SymShapes{{c.env.canonical(a[0]), c.env.canonical(b[1])}};
  });
  r.sym_shape(OpId::addmm, [](const SymRuleCall& c) {
    const auto a = c.sizes(1), b = c.sizes(2);
    c.expect_eq(a[1], b[0], "addmm's mat1 dim 1 and mat2 dim 0");
    const std::vector<SymExpr> out{c.env.canonical(a[0]), c.env.canonical(b[1])};
    (void)c.broadcast(c.sizes(0), out);
    return SymShapes{{c.env.canonical(out[0]), c.env.canonical(out[1])}};
  });
  r.sym_shape(OpId::bmm, [](const SymRuleCall& c) {
    const auto a = c.sizes(0), b = c.sizes(1);
    c.expect_eq(a[0], b[0], "bmm's batch sizes");
    c.expect_eq(a[2], b[1], "bmm's self dim 2 and mat2 dim 1");
    return SymShapes{{c.env.canonical(a[0]), c.env.canonical(a[1]), c.env.canonical(b[2])}};
  });
}

}  // namespace aotgrad::ops
