// The tracer's symbolic half: size expressions on proxies, guards, and the graph's
// symbols at the end of a trace (docs/SYMBOLIC_SHAPES.md, Note [Symbolic shape rules]).
#include <algorithm>

#include "support/error.h"
#include "trace/tracer.h"

namespace aotgrad::trace {

using graph::Arg;
using graph::Node;

namespace {
// The symbols a tensor argument or int argument mentions, for specialising them.
std::vector<SymExpr> expressions_in(const IValue& v) {
  std::vector<SymExpr> out;
  auto add_tensor = [&](const Tensor& t) {
    if (t.defined() && t.has_symbolic_sizes())
      for (const SymInt& s : t.sym_sizes()) out.push_back(s.expr);
  };
  if (v.is_tensor()) add_tensor(v.to_tensor());
  if (v.is_tensor_list())
    for (const Tensor& t : v.to_tensor_list()) add_tensor(t);
  if (v.is_int() && v.is_symbolic()) out.push_back(v.to_sym_int().expr);
  if (v.is_int_list() && v.is_symbolic())
    for (const SymInt& s : v.to_sym_int_list()) out.push_back(s.expr);
  return out;
}

bool mentions_symbols(const Args& args) {
  for (const IValue& v : args)
    if (!expressions_in(v).empty()) return true;
  return false;
}
}  // namespace

Arg Tracer::sym_arg(const SymExpr& e) const {
  const SymExpr c = shape_env_ != nullptr ? shape_env_->canonical(e) : e;
  return c.is_constant() ? Arg(c.constant()) : Arg(c);
}

void Tracer::specialize(const SymExpr& e, const std::string& reason) {
  if (shape_env_ == nullptr) return;
  shape_env_->where.clear();
  shape_env_->node.clear();
  shape_env_->specialize(e, reason);
}

void Tracer::assign_input_symbols(const Tensor& proxy, const std::string& name, const Tensor& like,
                                  const std::vector<int64_t>& dynamic_dims) {
  if (shape_env_ == nullptr) {
    AG_CHECK(dynamic_dims.empty(), "trace: dynamic dims given to a trace without a ShapeEnv");
    return;
  }
  std::vector<SymExpr> sizes;
  for (const SymInt& s : like.sym_sizes()) sizes.push_back(shape_env_->canonical(s.expr));
  for (int64_t d : dynamic_dims) {
    AG_CHECK(d >= 0 && d < like.dim(), "dynamic shapes: input '{}' is {}, which has no dim {}", name, like.describe(),
             d);
    AG_CHECK(like.size(d) >= 2,
             "dynamic shapes: dim {} of input '{}' is {} in the example; a dynamic size must be at least 2 there "
             "(examples of size 0 or 1 are specialised, as PyTorch does)",
             d, name, like.size(d));
    AG_INTERNAL_CHECK(gm_.symbols.size() == static_cast<size_t>(shape_env_->num_symbols()),
                      "trace: symbols and their sources are out of step");
    sizes[static_cast<size_t>(d)] = shape_env_->new_symbol(like.size(d));
    gm_.symbols.push_back({name, d});
  }
  proxy.set_sym_sizes(sizes);
}

void Tracer::specialize_operands(const Node& n, const std::string& hop) {
  if (shape_env_ == nullptr) return;
  shape_env_->where.clear();
  shape_env_->node = n.name();
  for (const Node* in : n.input_nodes())
    if (in->meta.val.kind == graph::FakeVal::Kind::Tensor)
      for (const SymExpr& e : in->meta.val.as_tensor().sym_sizes)
        shape_env_->specialize(e, "the higher-order op " + hop + " takes fixed sizes");
}

void Tracer::specialize_sizes(const Tensor& t, const std::string& reason) {
  if (shape_env_ == nullptr || !t.defined() || !t.has_symbolic_sizes()) return;
  for (const SymInt& s : t.sym_sizes()) shape_env_->specialize(s.expr, reason);
}

void Tracer::assign_sym_sizes(const ops::OpInfo& op, const Args& args, const Outputs& outs, const Node& node) {
  if (!mentions_symbols(args)) return;
  ops::ShapeEnv& env = *shape_env_;
  env.where = fmt::format("{} (node '{}')", op.qualified_name(), node.name());
  env.node = node.name();
  ops::SymShapes shapes;
  if (op.sym_shape) {
    shapes = op.sym_shape(ops::SymRuleCall(op, args, outs, env));
  } else {
    // Sound without a rule: the op sees fixed sizes, and the graph says so.
    for (const IValue& v : args)
      for (const SymExpr& e : expressions_in(v)) env.specialize(e, "it has no symbolic shape rule");
    shapes = ops::constant_sizes(outs);
  }
  const TensorList results = ops::flatten_outputs(outs);
  AG_INTERNAL_CHECK(shapes.size() == results.size(), "{}: its symbolic rule gives {} results, its shape rule {}",
                    op.qualified_name(), shapes.size(), results.size());
  for (size_t i = 0; i < results.size(); ++i) {
    const Tensor& r = results[i];
    if (!r.defined()) continue;
    std::vector<SymExpr>& s = shapes[i];
    AG_INTERNAL_CHECK(s.size() == static_cast<size_t>(r.dim()),
                      "{}: its symbolic rule gives result {} {} dims, its shape rule {}", op.qualified_name(), i,
                      s.size(), r.describe());
    for (size_t d = 0; d < s.size(); ++d) {
      s[d] = env.canonical(s[d]);
      AG_INTERNAL_CHECK(env.hint(s[d]) == r.sizes()[d],
                        "{}: its symbolic rule gives result {} size {} = {} in dim {}, its shape rule {}",
                        op.qualified_name(), i, s[d].str(), env.hint(s[d]), d, r.describe());
    }
    r.set_sym_sizes(s);
  }
}

void Tracer::finish_symbolic() {
  if (shape_env_ == nullptr) return;
  const ops::ShapeEnv& env = *shape_env_;
  // The symbols that remain, renumbered in order of creation.
  std::map<int64_t, SymExpr> renumber = env.replacements();
  std::vector<graph::GraphModule::SymbolSource> sources;
  for (int64_t k = 0; k < env.num_symbols(); ++k) {
    if (env.replacements().contains(k)) continue;
    renumber[k] = SymExpr::symbol(static_cast<int64_t>(sources.size()));
    sources.push_back(gm_.symbols.at(static_cast<size_t>(k)));
  }
  for (auto& [k, v] : renumber)
    if (env.replacements().contains(k)) v = v.substitute(renumber);
  auto final_form = [&](const SymExpr& e) { return e.substitute(renumber); };
  std::function<Arg(const Arg&)> final_arg = [&](const Arg& a) -> Arg {
    if (a.is_sym()) {
      const SymExpr e = final_form(a.sym());
      return e.is_constant() ? Arg(e.constant()) : Arg(e);
    }
    if (!a.is_list()) return a;
    Arg::List items;
    for (const Arg& x : a.list()) items.push_back(final_arg(x));
    return Arg(std::move(items));
  };
  for (const auto& node : gm_.graph->nodes()) {
    Node& n = *node;
    for (auto& item : n.meta.val.items) {
      if (!item || item->sym_sizes.empty()) continue;
      bool symbolic = false;
      for (SymExpr& e : item->sym_sizes) {
        e = final_form(e);
        symbolic = symbolic || !e.is_constant();
      }
      if (!symbolic) item->sym_sizes.clear();
    }
    Arg::List args;
    for (const Arg& a : n.args()) args.push_back(final_arg(a));
    graph::Kwargs kwargs;
    for (const auto& [name, a] : n.kwargs()) kwargs.emplace_back(name, final_arg(a));
    n.set_args(std::move(args), std::move(kwargs));
  }
  gm_.symbols = sources;
  gm_.guards.clear();
  for (const SymGuard& g : env.guards()) {
    SymGuard f{final_form(g.lhs), g.rel, final_form(g.rhs), g.reason};
    if (f.lhs.is_constant() && f.rhs.is_constant()) continue;  // settled by what the trace found equal
    if (f.lhs == f.rhs && g.rel == SymGuard::Rel::Eq) continue;
    const bool seen = std::any_of(gm_.guards.begin(), gm_.guards.end(), [&](const SymGuard& h) {
      return h.lhs == f.lhs && h.rel == f.rel && h.rhs == f.rhs;
    });
    if (!seen) gm_.guards.push_back(std::move(f));
  }
}

}  // namespace aotgrad::trace
