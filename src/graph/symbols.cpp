// bind_symbols: a call's sizes against a graph with symbolic shapes
// (docs/SYMBOLIC_SHAPES.md).
#include "aotgrad/graph.h"
#include "support/error.h"

namespace aotgrad::graph {

namespace {
// "s0 = 7 (primals_3.size(0)), s1 = 5 (primals_3.size(1))"
std::string bindings_str(const GraphModule& gm, const std::map<int64_t, int64_t>& b) {
  std::string s;
  for (const auto& [k, v] : b) {
    const auto& src = gm.symbols[static_cast<size_t>(k)];
    s += fmt::format("{}s{} = {} ({}.size({}))", s.empty() ? "" : ", ", k, v, src.placeholder, src.dim);
  }
  return s;
}

std::string sizes_at(const TensorVal& want, const std::map<int64_t, int64_t>& b) {
  Shape sizes;
  for (const SymExpr& e : want.sym_sizes) sizes.push_back(e.evaluate(b));
  return shape_str(sizes);
}
}  // namespace

std::map<int64_t, int64_t> bind_symbols(const GraphModule& gm, const std::vector<Shape>& input_sizes) {
  return bind_symbols(gm, std::vector<std::optional<Shape>>(input_sizes.begin(), input_sizes.end()));
}

std::map<int64_t, int64_t> bind_symbols(const GraphModule& gm, const std::vector<std::optional<Shape>>& input_sizes) {
  const std::vector<Node*> ph = gm.graph->placeholders();
  AG_CHECK(input_sizes.size() == ph.size(), "the graph takes {} inputs, but got {}", ph.size(), input_sizes.size());
  auto index_of = [&](const std::string& name) {
    for (size_t i = 0; i < ph.size(); ++i)
      if (ph[i]->name() == name) return i;
    AG_FAIL("symbol source '{}' is not an input of the graph", name);
  };
  std::map<int64_t, int64_t> b;
  for (size_t k = 0; k < gm.symbols.size(); ++k) {
    const auto& src = gm.symbols[k];
    const std::optional<Shape>& given = input_sizes[index_of(src.placeholder)];
    AG_CHECK(given.has_value(), "symbol s{} comes from input '{}', which was not given", k, src.placeholder);
    const Shape& got = *given;
    AG_CHECK(src.dim < static_cast<int64_t>(got.size()), "input '{}' must have a dimension {} (s{}), but got {}",
             src.placeholder, src.dim, k, shape_str(got));
    b[static_cast<int64_t>(k)] = got[static_cast<size_t>(src.dim)];
  }
  for (size_t i = 0; i < ph.size(); ++i) {
    if (ph[i]->meta.val.kind != FakeVal::Kind::Tensor) continue;
    const TensorVal& want = ph[i]->meta.val.as_tensor();
    if (!input_sizes[i]) continue;
    const Shape& got = *input_sizes[i];
    bool fits = got.size() == want.sizes.size();
    for (size_t d = 0; fits && d < got.size(); ++d)
      fits = got[d] == (want.sym_sizes.empty() ? want.sizes[d] : want.sym_sizes[d].evaluate(b));
    if (fits) continue;
    if (want.sym_sizes.empty()) AG_FAIL("input '{}' must be {}, but got {}", ph[i]->name(), want.str(), shape_str(got));
    AG_FAIL("input '{}' must be {}, that is {} with {}, but got {}", ph[i]->name(), want.str(), sizes_at(want, b),
            bindings_str(gm, b), shape_str(got));
  }
  for (const SymGuard& g : gm.guards)
    AG_CHECK(g.holds(b), "the sizes break the guard {} ({}): {}", g.str(), g.reason, bindings_str(gm, b));
  return b;
}

std::map<int64_t, int64_t> hint_bindings(const GraphModule& gm) {
  std::map<int64_t, int64_t> b;
  for (size_t k = 0; k < gm.symbols.size(); ++k) {
    const auto& src = gm.symbols[k];
    const Node* p = gm.graph->find(src.placeholder);
    AG_CHECK(p != nullptr && p->meta.val.kind == FakeVal::Kind::Tensor,
             "symbol s{} comes from '{}', which is not a tensor input", k, src.placeholder);
    const Shape& sizes = p->meta.val.as_tensor().sizes;
    AG_CHECK(src.dim >= 0 && src.dim < static_cast<int64_t>(sizes.size()),
             "symbol s{} comes from dimension {} of '{}', which has {}", k, src.dim, src.placeholder, sizes.size());
    b[static_cast<int64_t>(k)] = sizes[static_cast<size_t>(src.dim)];
  }
  return b;
}

}  // namespace aotgrad::graph
