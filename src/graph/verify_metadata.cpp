// The semantic check of a graph read from a file: the recorded metadata must be what
// the shape rules give.
//
// verify() checks structure; this walks the graph as the interpreter would, but on
// meta tensors (no data): each op node's arguments are bound to its schema (types
// and arity checked as for a real call), its shape rule runs on its inputs'
// recorded metadata, and the results must equal the node's recorded shape and dtype.
// So a file whose nodes claim shapes their ops cannot produce is rejected at load
// time, before the memory planner or a kernel trusts those shapes.
#include <algorithm>
#include <unordered_map>

#include "aotgrad/graph.h"
#include "core/shape.h"
#include "graph/higher_order.h"
#include "ops/dispatch.h"
#include "support/error.h"
#include "support/json_input.h"

namespace aotgrad::graph {

namespace {
Tensor meta_of(const TensorVal& t) {
  return Tensor::meta(t.sizes, t.dtype, t.strides, t.offset);
}

std::string meta_str(const Tensor& t) {
  return t.defined() ? TensorVal::of(t).str() : "None";
}

std::string recorded_str(const std::optional<TensorVal>& t) {
  return t ? t->str() : "None";
}

// How the walk treats what it finds: check the recorded metadata, or (specialize)
// also adopt the shape rules' strides, which a symbolic graph records only at its hints.
struct Walk {
  std::map<int64_t, int64_t> bindings;
  bool adopt_layout = false;
};

// The shape rule gave `got` for result `what`; the file recorded `recorded`.
void expect_recorded(const Walk& w, const Tensor& got, std::optional<TensorVal>& recorded, const std::string& what) {
  const bool same = got.defined() == recorded.has_value() &&
                    (!got.defined() || (got.sizes() == recorded->sizes && got.dtype() == recorded->dtype));
  AG_CHECK(same, "{} is recorded as {}, but its shape rule gives {}", what, recorded_str(recorded), meta_str(got));
  if (w.adopt_layout && got.defined()) {
    recorded->strides = got.strides();
    recorded->offset = got.storage_offset();
  }
}

// The value a node's metadata records, as meta tensors.
IValue recorded_value(const FakeVal& val) {
  auto meta = [](const std::optional<TensorVal>& t) {
    return t ? Tensor::meta(t->sizes, t->dtype, t->strides, t->offset) : Tensor();
  };
  if (val.kind == FakeVal::Kind::Tensor) return IValue(meta(val.items[0]));
  if (val.kind == FakeVal::Kind::None) return IValue();
  TensorList items;
  for (const auto& t : val.items) items.push_back(meta(t));
  return IValue(items);
}

// One op node: bind, run the shape rule, compare. Returns the node's value.
IValue check_op_node(const Walk& w, Node& n, const std::unordered_map<const Node*, IValue>& env) {
  const ops::OpInfo& op = *n.target().op;
  AG_CHECK(op.kind != ops::OpKind::Composite,
           "calls {}, a composite op that is always decomposed and cannot appear in a graph", op.qualified_name());
  Args args = bind_op_args(
      n,
      [&](const Node* x) -> IValue {
        auto it = env.find(x);
        AG_CHECK(it != env.end(), "uses '{}', which has no tensor value", x->name());
        return it->second;
      },
      w.bindings);
  FakeVal& val = n.meta.val;
  if (op.schema_only) return recorded_value(val);  // no shape rule here: trust the record
  Outputs outs = ops::run_shape(op, args);
  const bool single = op.schema.returns.size() == 1;
  if (single && !outs[0].is_tensor_list()) {
    if (!outs[0].is_tensor()) {
      AG_CHECK(val.kind == FakeVal::Kind::None, "returns a {}, but its metadata records a tensor", outs[0].type_name());
      return outs[0];
    }
    AG_CHECK(val.kind == FakeVal::Kind::Tensor, "returns one tensor, but its metadata records {}",
             val.kind == FakeVal::Kind::None ? "no value" : "a tuple");
    expect_recorded(w, outs[0].to_tensor(), val.items[0], "its result");
    return outs[0];
  }
  TensorList elems = single ? outs[0].to_tensor_list() : ops::flatten_outputs(outs);
  AG_CHECK(val.kind == FakeVal::Kind::Tuple && val.items.size() == elems.size(),
           "returns {} tensors, but its metadata records {}", elems.size(),
           val.kind == FakeVal::Kind::Tuple ? fmt::format("{}", val.items.size()) : std::string("no tuple"));
  for (size_t i = 0; i < elems.size(); ++i) expect_recorded(w, elems[i], val.items[i], fmt::format("result {}", i));
  return IValue(elems);
}

// A higher-order node: its op's own file gives the results' metadata (graph/higher_order.h).
IValue check_higher_order_node(const Walk& w, const GraphModule& gm, Node& n,
                               const std::unordered_map<const Node*, IValue>& env) {
  FakeVal& val = n.meta.val;
  HigherOrderCall call(gm, n);
  std::vector<TensorVal> operands;
  for (const Node* x : call.operands()) {
    auto it = env.find(x);
    AG_CHECK(it != env.end() && it->second.is_tensor(), "uses '{}', which has no tensor value", x->name());
    operands.push_back(TensorVal::of(it->second.to_tensor()));
  }
  const std::vector<std::optional<TensorVal>> results = call.result_meta(operands);
  AG_CHECK(val.kind == FakeVal::Kind::Tuple && val.items.size() == results.size(),
           "returns {} results, but its metadata records {}", results.size(),
           val.kind == FakeVal::Kind::Tuple ? fmt::format("{}", val.items.size()) : std::string("no tuple"));
  TensorList items;
  for (size_t i = 0; i < results.size(); ++i) {
    Tensor t = results[i] ? meta_of(*results[i]) : Tensor();
    expect_recorded(w, t, val.items[i], fmt::format("result {}", i));
    items.push_back(t);
  }
  return IValue(items);
}

IValue check_node(const Walk& w, const GraphModule& gm, Node& n, const std::unordered_map<const Node*, IValue>& env) {
  FakeVal& val = n.meta.val;
  switch (n.op()) {
    case NodeOp::Placeholder:
      // Inputs are what the metadata says (a graph without metadata has nothing to check).
      if (val.kind == FakeVal::Kind::Tensor) return IValue(meta_of(*val.items[0]));
      AG_CHECK(val.kind == FakeVal::Kind::None, "a placeholder's metadata must be one tensor, not a tuple");
      return IValue();
    case NodeOp::GetAttr: {
      const Tensor* c = gm.constant(n.target().name);
      if (c == nullptr) return IValue();  // a subgraph, read by the higher-order op that uses it
      if (val.kind != FakeVal::Kind::None) {
        AG_CHECK(val.kind == FakeVal::Kind::Tensor, "reads a constant, but its metadata records a tuple");
        expect_recorded(w, *c, val.items[0], fmt::format("constant '{}'", n.target().name));
      }
      return IValue(Tensor::meta(c->sizes(), c->dtype(), c->strides(), 0));
    }
    case NodeOp::CallFunction:
      switch (n.target().kind) {
        case Target::Kind::Op:
          return check_op_node(w, n, env);
        case Target::Kind::GetItem: {
          auto it = env.find(n.args()[0].node());
          AG_CHECK(it != env.end() && it->second.is_tensor_list(), "getitem reads '{}', which is not a tuple",
                   n.args()[0].node()->name());
          const TensorList& items = it->second.to_tensor_list();
          const int64_t i = n.args()[1].to_int();
          AG_CHECK(i >= 0 && i < static_cast<int64_t>(items.size()), "getitem index {} is out of range for {} items", i,
                   items.size());
          const Tensor& item = items[static_cast<size_t>(i)];
          AG_CHECK(val.kind != FakeVal::Kind::Tuple, "getitem's metadata records a tuple");
          std::optional<TensorVal> none;
          expect_recorded(w, item, val.kind == FakeVal::Kind::None ? none : val.items[0], "its result");
          return IValue(item);
        }
        case Target::Kind::HigherOrder:
          return check_higher_order_node(w, gm, n, env);
        default:
          AG_FAIL("calls an unknown kind of target");
      }
    case NodeOp::Output:
      return IValue();
  }
  return IValue();
}

void walk_metadata(const GraphModule& gm, const Walk& w) {
  // Subgraphs are shared and have fixed shapes: a specialization leaves them be.
  if (!w.adopt_layout)
    for (const auto& [name, sub] : gm.subgraphs) {
      try {
        walk_metadata(*sub, Walk{hint_bindings(*sub), w.adopt_layout});
      } catch (Error& e) {
        e.add_context("in subgraph '" + name + "'");
        throw;
      }
    }
  std::unordered_map<const Node*, IValue> env;
  for (const auto& node : gm.graph->nodes()) {
    try {
      IValue v = check_node(w, gm, *node, env);
      if (!v.is_none()) env[node.get()] = std::move(v);
    } catch (Error& e) {
      throw Error(ErrorKind::User, fmt::format("node '{}': {}", quote_excerpt(node->name()), e.message()));
    }
  }
}

}  // namespace

void verify_metadata(const GraphModule& gm) {
  walk_metadata(gm, Walk{hint_bindings(gm), false});
}

// ---- specialize (graph.h) ----

namespace {
// `a` with sizes evaluated and node references mapped to the copy's.
Arg substituted(const Arg& a, const std::map<int64_t, int64_t>& bindings,
                const std::unordered_map<const Node*, Node*>& map) {
  if (a.is_sym()) return Arg(a.sym().evaluate(bindings));
  if (a.is_node()) return Arg(map.at(a.node()));
  if (!a.is_list()) return a;
  Arg::List items;
  for (const Arg& x : a.list()) items.push_back(substituted(x, bindings, map));
  return Arg(std::move(items));
}

// An input's strides at new sizes: the dims in the order of the example's strides,
// packed densely (a contiguous input stays contiguous, a transposed one transposed),
// broadcast dims (stride 0) kept. A layout that is no such packing cannot be moved.
Shape strides_at(const Node& n, const Shape& sizes, const Shape& strides, const Shape& new_sizes) {
  std::vector<size_t> order(sizes.size());
  for (size_t d = 0; d < order.size(); ++d) order[d] = d;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return strides[a] > strides[b]; });
  auto pack = [&](const Shape& s) {
    Shape out(s.size(), 0);
    int64_t next = 1;
    for (size_t i = order.size(); i-- > 0;) {
      const size_t d = order[i];
      if (strides[d] == 0) continue;
      out[d] = next;
      next *= std::max<int64_t>(s[d], 1);
    }
    return out;
  };
  Shape packed = pack(sizes);
  for (size_t d = 0; d < sizes.size(); ++d)
    if (sizes[d] == 1) packed[d] = strides[d];  // a size-1 dim's stride is never read
  AG_CHECK(packed == strides,
           "input '{}' has symbolic sizes and the layout {} (strides {}), which is not a dense packing of its dims and "
           "cannot be moved to other sizes",
           n.name(), shape_str(sizes), shape_str(strides));
  return pack(new_sizes);
}

}  // namespace

FakeVal value_at(const Node& n, const std::map<int64_t, int64_t>& bindings,
                 const std::map<std::string, TensorVal>& input_layouts) {
  const FakeVal& val = n.meta.val;
  FakeVal out{val.kind, {}};
  for (const auto& item : val.items) {
    if (!item || item->sym_sizes.empty()) {
      out.items.push_back(item);
      continue;
    }
    TensorVal t{item->sizes, item->strides, item->offset, item->dtype, {}};
    for (size_t d = 0; d < t.sizes.size(); ++d) t.sizes[d] = item->sym_sizes[d].evaluate(bindings);
    if (n.op() == NodeOp::Placeholder) {
      auto given = input_layouts.find(n.name());
      if (given != input_layouts.end()) {
        AG_CHECK(given->second.sizes == t.sizes && given->second.dtype == t.dtype,
                 "input '{}' is {} at these sizes, but is given as {}", n.name(), t.str(), given->second.str());
        t.strides = given->second.strides;
        t.offset = given->second.offset;
      } else {
        t.strides = strides_at(n, item->sizes, item->strides, t.sizes);
      }
    }
    out.items.push_back(std::move(t));
  }
  return out;
}

std::shared_ptr<GraphModule> specialize(const GraphModule& gm, const std::map<int64_t, int64_t>& bindings,
                                        const std::map<std::string, TensorVal>& input_layouts) {
  std::shared_ptr<GraphModule> out = module_like(gm);
  std::unordered_map<const Node*, Node*> map;
  for (const auto& node : gm.graph->nodes()) {
    const Node& n = *node;
    Arg::List args;
    for (const Arg& a : n.args()) args.push_back(substituted(a, bindings, map));
    Kwargs kwargs;
    for (const auto& [name, a] : n.kwargs()) kwargs.emplace_back(name, substituted(a, bindings, map));
    Node* c = out->graph->create_node(n.op(), n.name(), n.target(), std::move(args), std::move(kwargs));
    c->meta = n.meta.without_val();
    c->meta.val = value_at(n, bindings, input_layouts);
    map[&n] = c;
  }
  try {
    walk_metadata(*out, Walk{{}, true});
  } catch (Error& e) {
    e.add_context("while specializing the graph at " + [&] {
      std::string s;
      for (const auto& [k, v] : bindings) s += fmt::format("{}s{} = {}", s.empty() ? "" : ", ", k, v);
      return s;
    }());
    throw;
  }
  return out;
}

}  // namespace aotgrad::graph
