// The graph file format: lossless, versioned JSON (docs/GRAPH_FORMAT.md).
//
// Loading validates everything before use and reports the first problem with the
// node and field it is in; a file can name ops only from the op table, so loading
// never runs anything the file says.
#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "aotgrad/graph.h"
#include "aotgrad/version.h"
#include "graph/serialize.h"
#include "ops/registry.h"
#include "support/error.h"
#include "support/json_input.h"

namespace aotgrad::graph {

using nlohmann::json;

namespace {
// Version 2 added symbolic shapes (sym_sizes, symbols, guards); version 1 files,
// which have none, read as before.
constexpr int kFormatVersion = 2;
constexpr int kOldestFormatVersion = 1;

json double_json(double v) {
  if (std::isnan(v)) return json{{"float", "nan"}};
  if (std::isinf(v)) return json{{"float", v > 0 ? "inf" : "-inf"}};
  return json{{"float", v}};
}

// A constant's values, exactly: integers as JSON integers (int64 beyond 2^53 would
// not survive a double), floats as numbers or {"float": "nan"/"inf"/"-inf"}, bools as bools.
json constant_data_json(const Tensor& t) {
  json data = json::array();
  if (t.dtype() == DType::Bool) {
    for (bool b : t.to_vector<bool>()) data.push_back(b);
  } else if (t.is_floating_point()) {
    for (double v : t.to_vector<double>()) data.push_back(std::isfinite(v) ? json(v) : double_json(v));
  } else {
    for (int64_t v : t.to_vector<int64_t>()) data.push_back(v);
  }
  return data;
}

json arg_json(const Arg& a) {
  if (a.is_none()) return nullptr;
  if (a.is_node()) return json{{"node", a.node()->name()}};
  if (a.is_bool()) return a.to_bool();
  if (a.is_int()) return a.to_int();
  if (a.is_double()) return double_json(a.to_double());
  if (a.is_string()) return a.str();
  if (a.is_dtype()) return json{{"dtype", std::string(dtype_name(a.dtype()))}};
  if (a.is_sym()) return json{{"sym", a.sym().str()}};
  json l = json::array();
  for (const Arg& x : a.list()) l.push_back(arg_json(x));
  return l;
}

json tensor_val_json(const TensorVal& t) {
  json j{{"dtype", std::string(dtype_name(t.dtype))}, {"sizes", t.sizes}, {"strides", t.strides}, {"offset", t.offset}};
  if (!t.sym_sizes.empty()) {
    json exprs = json::array();
    for (const SymExpr& e : t.sym_sizes) exprs.push_back(e.str());
    j["sym_sizes"] = exprs;
  }
  return j;
}

// Symbolic shapes of a module: where each symbol comes from, and the guards.
void symbolic_json(const GraphModule& gm, json& j) {
  if (gm.symbols.empty() && gm.guards.empty()) return;
  json symbols = json::array(), guards = json::array();
  for (const auto& s : gm.symbols) symbols.push_back({{"placeholder", s.placeholder}, {"dim", s.dim}});
  for (const SymGuard& g : gm.guards)
    guards.push_back(
        {{"lhs", g.lhs.str()}, {"rel", SymGuard::rel_text(g.rel)}, {"rhs", g.rhs.str()}, {"reason", g.reason}});
  j["symbols"] = symbols;
  j["guards"] = guards;
}

json meta_json(const NodeMeta& m) {
  json j = json::object();
  if (m.val.kind != FakeVal::Kind::None) {
    json items = json::array();
    for (const auto& t : m.val.items) items.push_back(t ? tensor_val_json(*t) : json(nullptr));
    j["val"] = {{"kind", m.val.kind == FakeVal::Kind::Tensor ? "tensor" : "tuple"}, {"items", items}};
  }
  if (m.desc) j["desc"] = m.desc->str();
  if (!m.out_descs.empty()) {
    json d = json::array();
    for (const auto& x : m.out_descs) d.push_back(x ? json(x->str()) : json(nullptr));
    j["out_descs"] = d;
  }
  if (!m.stack_trace.empty()) j["stack_trace"] = m.stack_trace.text();
  if (!m.custom.empty()) {
    json c = json::array();
    for (const auto& [k, v] : m.custom) {
      json val = std::visit(
          [](const auto& x) -> json {
            if constexpr (std::is_same_v<std::decay_t<decltype(x)>, double>)
              return double_json(x);
            else
              return x;
          },
          v);
      c.push_back(json::array({k, val}));
    }
    j["custom"] = c;
  }
  if (m.seq_nr) j["seq_nr"] = *m.seq_nr;
  if (m.is_gradient_acc) j["is_gradient_acc"] = true;
  if (m.is_backward) j["is_backward"] = true;
  return j;
}

std::string target_string(const Node& n) {
  switch (n.target().kind) {
    case Target::Kind::Op:
      return n.target().op->qualified_name();
    case Target::Kind::GetItem:
      return "operator.getitem";
    case Target::Kind::HigherOrder:
      return n.target().qualified();
    default:
      return n.target().name;
  }
}

// ---- reading ----

struct Reader {
  std::string where;  // "node 'addmm'", for messages

  [[noreturn]] void fail(const std::string& what) const { AG_FAIL("graph file: {}: {}", where, what); }
  const json& at(const json& o, const char* key) const {
    if (!o.is_object() || !o.contains(key)) fail(fmt::format("missing field '{}'", key));
    return o.at(key);
  }
  std::string str(const json& o, const char* key) const {
    const json& v = at(o, key);
    if (!v.is_string()) fail(fmt::format("field '{}' must be a string", key));
    return v.get<std::string>();
  }
  int64_t integer(const json& v, const char* what) const {
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)))
      fail(fmt::format("{} must be an integer (a 64-bit signed one), but got {}", what, quote_excerpt(v.dump())));
    return v.get<int64_t>();
  }
  bool boolean(const json& o, const char* key) const {
    const json& v = at(o, key);
    if (!v.is_boolean())
      fail(fmt::format("field '{}' must be true or false, but got {}", key, quote_excerpt(v.dump())));
    return v.get<bool>();
  }
  Shape ints(const json& v, const char* what) const {
    if (!v.is_array()) fail(fmt::format("{} must be a list of integers", what));
    Shape s;
    for (const json& x : v) s.push_back(integer(x, what));
    return s;
  }
  // A tensor's sizes: non-negative, with an element count a tensor may have.
  Shape sizes(const json& v) const {
    Shape s = ints(v, "sizes");
    for (int64_t d : s)
      if (d < 0) fail(fmt::format("sizes must be non-negative, but got {}", shape_str(s)));
    try {
      (void)shape_numel(s);
    } catch (const Error& e) {
      fail(e.message());
    }
    return s;
  }
  double floating(const json& v) const {
    const json& f = at(v, "float");
    if (f.is_number()) return f.get<double>();
    if (f == "inf") return std::numeric_limits<double>::infinity();
    if (f == "-inf") return -std::numeric_limits<double>::infinity();
    if (f == "nan") return std::numeric_limits<double>::quiet_NaN();
    fail("a float must be a number, \"inf\", \"-inf\" or \"nan\"");
  }
  DType dtype(const std::string& s) const {
    DType d;
    if (!parse_dtype(s, &d)) fail("unknown dtype '" + s + "'");
    return d;
  }
  TensorVal tensor_val(const json& v) const {
    TensorVal t;
    t.dtype = dtype(str(v, "dtype"));
    t.sizes = sizes(at(v, "sizes"));
    t.strides = ints(at(v, "strides"), "strides");
    t.offset = integer(at(v, "offset"), "offset");
    if (t.strides.size() != t.sizes.size()) fail("sizes and strides differ in length");
    for (int64_t st : t.strides)
      if (st < 0 || st > kMaxNumel) fail(fmt::format("strides must be in [0, 2^48], but got {}", shape_str(t.strides)));
    if (t.offset < 0 || t.offset > kMaxNumel) fail(fmt::format("offset must be in [0, 2^48], but got {}", t.offset));
    if (v.contains("sym_sizes")) {
      const json& exprs = v["sym_sizes"];
      if (!exprs.is_array() || exprs.size() != t.sizes.size())
        fail(fmt::format("sym_sizes must be a list of {} size expressions, one per dimension", t.sizes.size()));
      for (const json& e : exprs) t.sym_sizes.push_back(sym_expr(e));
    }
    return t;
  }
  SymExpr sym_expr(const json& v) const {
    if (!v.is_string()) fail("a size expression must be a string such as \"128*s0\"");
    try {
      return parse_sym_expr(v.get<std::string>());
    } catch (const Error& e) {
      fail(e.message());
    }
  }
  Descriptor descriptor(const json& v) const {
    if (!v.is_string()) fail("a descriptor must be a string");
    try {
      return Descriptor::parse(v.get<std::string>());
    } catch (const Error& e) {
      fail(e.message());
    }
  }
};

pytree::TreeSpec spec_from_json(const json& j, const Reader& r) {
  pytree::TreeSpec s;
  const std::string kind = r.str(j, "kind");
  if (kind == "leaf") return s;
  if (kind == "list")
    s.kind = pytree::Value::Kind::List;
  else if (kind == "tuple")
    s.kind = pytree::Value::Kind::Tuple;
  else if (kind == "dict")
    s.kind = pytree::Value::Kind::Dict;
  else
    r.fail("unknown tree spec kind '" + kind + "'");
  const json& children = r.at(j, "children");
  if (!children.is_array()) r.fail("tree spec children must be a list");
  for (const json& c : children) s.children.push_back(spec_from_json(c, r));
  if (s.kind == pytree::Value::Kind::Dict) {
    const json& keys = r.at(j, "keys");
    if (!keys.is_array() || keys.size() != s.children.size()) r.fail("dict spec keys must match children");
    for (const json& k : keys) {
      if (!k.is_string()) r.fail("dict spec keys must be strings");
      s.keys.push_back(k.get<std::string>());
    }
  }
  return s;
}

Tensor constant_from_json(const json& j, const Reader& r) {
  DType dt = r.dtype(r.str(j, "dtype"));
  Shape sizes = r.sizes(r.at(j, "sizes"));
  const json& data = r.at(j, "data");
  if (!data.is_array() || static_cast<int64_t>(data.size()) != shape_numel(sizes))
    r.fail(fmt::format("constant data must hold {} values", shape_numel(sizes)));
  Tensor t = Tensor::empty(sizes, dt);
  visit_dtype(dt, [&]<typename T>() {
    T* p = t.data_ptr<T>();
    for (size_t i = 0; i < data.size(); ++i) {
      const json& x = data[i];
      // Each value must be of the dtype's kind and fit it: converting one that does not
      // is undefined behaviour.
      if constexpr (std::is_same_v<T, bool>) {
        if (!x.is_boolean())
          r.fail(fmt::format("constant value {} at index {} is not a bool", quote_excerpt(x.dump()), i));
        p[i] = x.get<bool>();
      } else if constexpr (std::is_floating_point_v<T>) {
        const double v = x.is_number() ? x.get<double>() : r.floating(x);
        if (std::isfinite(v) && std::abs(v) > static_cast<double>(std::numeric_limits<T>::max()))
          r.fail(fmt::format("constant value {} at index {} does not fit dtype {}", v, i, dtype_name(dt)));
        p[i] = static_cast<T>(v);
      } else {
        const int64_t v = r.integer(x, "an integer constant's value");
        if (v < static_cast<int64_t>(std::numeric_limits<T>::lowest()) ||
            v > static_cast<int64_t>(std::numeric_limits<T>::max()))
          r.fail(fmt::format("constant value {} at index {} does not fit dtype {}", v, i, dtype_name(dt)));
        p[i] = static_cast<T>(v);
      }
    }
  });
  return t;
}
}  // namespace

json spec_to_json(const pytree::TreeSpec& s) {
  static const char* names[] = {"leaf", "list", "tuple", "dict"};
  json j{{"kind", names[static_cast<int>(s.kind)]}};
  if (s.kind == pytree::Value::Kind::Leaf) return j;
  json children = json::array();
  for (const auto& c : s.children) children.push_back(spec_to_json(c));
  j["children"] = children;
  if (s.kind == pytree::Value::Kind::Dict) j["keys"] = s.keys;
  return j;
}

pytree::TreeSpec spec_from_json(const json& j, const std::string& where) {
  return spec_from_json(j, Reader{where});
}

json module_to_json(const GraphModule& gm) {
  json nodes = json::array();
  for (const auto& n : gm.graph->nodes()) {
    json args = json::array();
    for (const Arg& a : n->args()) args.push_back(arg_json(a));
    json kwargs = json::array();
    for (const auto& [k, v] : n->kwargs()) kwargs.push_back(json::array({k, arg_json(v)}));
    nodes.push_back({{"name", n->name()},
                     {"op", node_op_name(n->op())},
                     {"target", target_string(*n)},
                     {"args", args},
                     {"kwargs", kwargs},
                     {"meta", meta_json(n->meta)}});
  }
  json constants = json::array();
  for (const auto& [name, t] : gm.constants)
    constants.push_back({{"name", name},
                         {"dtype", std::string(dtype_name(t.dtype()))},
                         {"sizes", t.sizes()},
                         {"data", constant_data_json(t)}});
  json subgraphs = json::array();
  for (const auto& [name, sub] : gm.subgraphs) subgraphs.push_back({{"name", name}, {"module", module_to_json(*sub)}});
  json j{{"name", gm.name},
         {"arg_names", gm.arg_names},
         {"nodes", nodes},
         {"constants", constants},
         {"subgraphs", subgraphs}};
  symbolic_json(gm, j);
  // The schema of every custom op the nodes call, so that another process can print,
  // verify and save the graph without the op's implementation.
  json custom_ops = json::array();
  for (const auto& n : gm.graph->nodes()) {
    if (n->op() != NodeOp::CallFunction || n->target().kind != Target::Kind::Op) continue;
    const ops::OpInfo& op = *n->target().op;
    if (ops::is_runtime_op(op) && std::find(custom_ops.begin(), custom_ops.end(), op.schema.text) == custom_ops.end())
      custom_ops.push_back(op.schema.text);
  }
  if (!custom_ops.empty()) j["custom_ops"] = custom_ops;
  j["in_spec"] = gm.in_spec ? spec_to_json(*gm.in_spec) : json(nullptr);
  j["out_spec"] = gm.out_spec ? spec_to_json(*gm.out_spec) : json(nullptr);
  if (gm.call_in_spec) j["call_in_spec"] = spec_to_json(*gm.call_in_spec);
  if (gm.call_out_spec) j["call_out_spec"] = spec_to_json(*gm.call_out_spec);
  if (gm.output_is_tuple) j["output_is_tuple"] = true;
  return j;
}

namespace {
// Reads one module's nodes, in file order, each seeing only the nodes before it.
struct NodeReader {
  GraphModule& gm;
  std::unordered_map<std::string, Node*> by_name;

  Arg arg(const json& a, const Reader& nr) const {
    if (a.is_null()) return Arg();
    if (a.is_boolean()) return Arg(a.get<bool>());
    if (a.is_number_integer()) return Arg(nr.integer(a, "an integer argument"));
    if (a.is_string()) return Arg(a.get<std::string>());
    if (a.is_array()) {  // nesting is bounded by the document's (kMaxJsonDepth)
      Arg::List l;
      for (const json& x : a) l.push_back(arg(x, nr));
      return Arg(std::move(l));
    }
    if (a.is_object() && a.contains("node")) {
      const std::string ref = nr.str(a, "node");
      auto it = by_name.find(ref);
      if (it == by_name.end())
        nr.fail("refers to node '" + quote_excerpt(ref) + "', which is not defined before it (dangling reference)");
      return Arg(it->second);
    }
    if (a.is_object() && a.contains("float")) return Arg(nr.floating(a));
    if (a.is_object() && a.contains("dtype")) return Arg(nr.dtype(nr.str(a, "dtype")));
    if (a.is_object() && a.contains("sym")) return Arg(nr.sym_expr(a["sym"]));
    nr.fail("has an argument of unknown form: " + quote_excerpt(a.dump()));
  }

  // The node itself, from its kind, target and arguments.
  Node* create(const json& nj, const std::string& name, const Reader& nr) {
    const std::string op = nr.str(nj, "op");
    const std::string target = nr.str(nj, "target");
    Arg::List args;
    const json& aj = nr.at(nj, "args");
    if (!aj.is_array()) nr.fail("args must be a list");
    for (const json& a : aj) args.push_back(arg(a, nr));
    Kwargs kwargs;
    const json& kj = nr.at(nj, "kwargs");
    if (!kj.is_array()) nr.fail("kwargs must be a list of [name, value] pairs");
    for (const json& kv : kj) {
      if (!kv.is_array() || kv.size() != 2 || !kv[0].is_string()) nr.fail("kwargs must be [name, value] pairs");
      kwargs.emplace_back(kv[0].get<std::string>(), arg(kv[1], nr));
    }
    Graph& g = *gm.graph;
    // The graph would silently reorder these; a file must list them in order.
    if (g.output_node() != nullptr) nr.fail("comes after the output node (the output must be the last node)");
    if (op == "placeholder") {
      if (g.size() != g.placeholders().size()) nr.fail("a placeholder comes after other nodes");
      return g.placeholder(name);
    }
    if (op == "get_attr") return g.get_attr(target, name);
    if (op == "output") {
      if (args.size() != 1 || !args[0].is_list()) nr.fail("the output must have one list argument");
      return g.output(args[0].list());
    }
    if (op != "call_function") nr.fail("unknown node kind '" + quote_excerpt(op) + "'");
    if (target == "operator.getitem") {
      if (args.size() != 2 || !args[0].is_node() || !args[1].is_int()) nr.fail("getitem takes (node, index)");
      return g.getitem(args[0].node(), args[1].to_int(), name);
    }
    if (const std::string hop = "torch.ops.higher_order."; target.rfind(hop, 0) == 0) {
      if (!kwargs.empty()) nr.fail("a higher-order op call takes no keyword arguments");
      return g.call_higher_order(target.substr(hop.size()), std::move(args), name);
    }
    const ops::OpInfo* info = ops::find_op(target);
    if (info == nullptr) nr.fail("unknown op '" + quote_excerpt(target) + "'");
    return g.call_function(*info, std::move(args), std::move(kwargs), name);
  }

  static AnnotationValue annotation(const json& v, const Reader& nr) {
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_number_integer()) return nr.integer(v, "an annotation value");
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object()) return nr.floating(v);
    nr.fail("annotation values must be ints, floats, bools or strings");
  }

  static void read_meta(Node& n, const json& m, const Reader& nr) {
    if (!m.is_object()) nr.fail("meta must be an object");
    if (m.contains("val")) {
      const std::string kind = nr.str(m["val"], "kind");
      const json& items = nr.at(m["val"], "items");
      if (!items.is_array()) nr.fail("val items must be a list");
      if (kind != "tensor" && kind != "tuple") nr.fail("unknown val kind '" + quote_excerpt(kind) + "'");
      n.meta.val.kind = kind == "tensor" ? FakeVal::Kind::Tensor : FakeVal::Kind::Tuple;
      for (const json& t : items)
        n.meta.val.items.push_back(t.is_null() ? std::nullopt : std::optional(nr.tensor_val(t)));
      if (kind == "tensor" && (items.size() != 1 || !n.meta.val.items[0])) nr.fail("a tensor val needs one item");
    }
    if (m.contains("desc")) n.meta.desc = nr.descriptor(m["desc"]);
    if (m.contains("out_descs")) {
      if (!m["out_descs"].is_array()) nr.fail("out_descs must be a list");
      for (const json& d : m["out_descs"])
        n.meta.out_descs.push_back(d.is_null() ? std::nullopt : std::optional(nr.descriptor(d)));
    }
    if (m.contains("stack_trace")) n.meta.stack_trace = StackTrace::parse(nr.str(m, "stack_trace"));
    if (m.contains("custom")) {
      if (!m["custom"].is_array()) nr.fail("custom must be a list of [key, value] pairs");
      for (const json& kv : m["custom"]) {
        if (!kv.is_array() || kv.size() != 2 || !kv[0].is_string()) nr.fail("custom must be [key, value] pairs");
        n.meta.custom.emplace_back(kv[0].get<std::string>(), annotation(kv[1], nr));
      }
    }
    if (m.contains("seq_nr")) n.meta.seq_nr = nr.integer(m["seq_nr"], "seq_nr");
    if (m.contains("is_gradient_acc")) n.meta.is_gradient_acc = nr.boolean(m, "is_gradient_acc");
    if (m.contains("is_backward")) n.meta.is_backward = nr.boolean(m, "is_backward");
  }

  void read(const json& nj, size_t index) {
    Reader nr{fmt::format("node {}", index)};
    const std::string name = nr.str(nj, "name");
    nr.where = "node '" + quote_excerpt(name) + "'";
    Node* n = create(nj, name, nr);
    if (n->name() != name || by_name.count(name))
      nr.fail("duplicate or reserved node name (it would be renamed '" + quote_excerpt(n->name()) + "')");
    by_name[name] = n;
    read_meta(*n, nr.at(nj, "meta"), nr);
  }
};

// Everything of a module but its nodes: name, argument names, specs, constants, subgraphs.
void read_module_header(GraphModule& gm, const json& j, const Reader& r) {
  gm.name = r.str(j, "name");
  const json& arg_names = r.at(j, "arg_names");
  if (!arg_names.is_array()) r.fail("arg_names must be a list");
  for (const json& a : arg_names) {
    if (!a.is_string()) r.fail("arg_names must hold strings");
    gm.arg_names.push_back(a.get<std::string>());
  }
  if (!r.at(j, "in_spec").is_null()) gm.in_spec = spec_from_json(j["in_spec"], r);
  if (!r.at(j, "out_spec").is_null()) gm.out_spec = spec_from_json(j["out_spec"], r);
  if (j.contains("call_in_spec")) gm.call_in_spec = spec_from_json(j["call_in_spec"], r);
  if (j.contains("call_out_spec")) gm.call_out_spec = spec_from_json(j["call_out_spec"], r);
  if (j.contains("output_is_tuple")) {
    if (!j["output_is_tuple"].is_boolean()) r.fail("output_is_tuple must be true or false");
    gm.output_is_tuple = j["output_is_tuple"].get<bool>();
  }
  const json& constants = r.at(j, "constants");
  if (!constants.is_array()) r.fail("constants must be a list");
  for (const json& c : constants) {
    Reader cr{"constant '" + quote_excerpt(r.str(c, "name")) + "'"};
    gm.constants.emplace_back(cr.str(c, "name"), constant_from_json(c, cr));
  }
  const json& subgraphs = r.at(j, "subgraphs");
  if (!subgraphs.is_array()) r.fail("subgraphs must be a list");
  for (const json& s : subgraphs) gm.subgraphs.emplace_back(r.str(s, "name"), module_from_json(r.at(s, "module")));
}
SymGuard::Rel rel_of(const std::string& text, const Reader& r) {
  SymGuard::Rel rel{};
  if (!SymGuard::parse_rel(text, rel))
    r.fail(fmt::format("a guard's rel must be one of == != < <= > >=, but got {}", quote_excerpt(text)));
  return rel;
}

// Each symbol names a placeholder of the module and one of its dimensions; every size
// expression and guard mentions only the module's symbols.
void read_symbolic(GraphModule& gm, const json& j, const Reader& r) {
  if (j.contains("symbols")) {
    const json& symbols = j["symbols"];
    if (!symbols.is_array()) r.fail("symbols must be a list");
    for (const json& s : symbols) {
      GraphModule::SymbolSource src{r.str(s, "placeholder"), r.integer(r.at(s, "dim"), "dim")};
      const Node* p = gm.graph->find(src.placeholder);
      if (p == nullptr || p->op() != NodeOp::Placeholder || p->meta.val.kind != FakeVal::Kind::Tensor)
        r.fail(fmt::format("symbol s{} comes from {}, which is not a tensor placeholder of the graph",
                           gm.symbols.size(), quote_excerpt(src.placeholder)));
      const int64_t rank = static_cast<int64_t>(p->meta.val.as_tensor().sizes.size());
      if (src.dim < 0 || src.dim >= rank)
        r.fail(fmt::format("symbol s{} comes from dimension {} of '{}', which has {}", gm.symbols.size(), src.dim,
                           src.placeholder, rank));
      gm.symbols.push_back(src);
    }
  }
  if (j.contains("guards")) {
    const json& guards = j["guards"];
    if (!guards.is_array()) r.fail("guards must be a list");
    for (const json& g : guards)
      gm.guards.push_back(
          {r.sym_expr(r.at(g, "lhs")), rel_of(r.str(g, "rel"), r), r.sym_expr(r.at(g, "rhs")), r.str(g, "reason")});
  }
  const auto known = static_cast<int64_t>(gm.symbols.size());
  auto check = [&](const SymExpr& e, const std::string& where) {
    for (int64_t s : e.symbols())
      if (s >= known) r.fail(fmt::format("{} mentions s{}, but the graph has {} symbol(s)", where, s, known));
  };
  for (const auto& n : gm.graph->nodes())
    for (const auto& t : n->meta.val.items)
      if (t)
        for (const SymExpr& e : t->sym_sizes) check(e, "the value of '" + n->name() + "'");
  for (const auto& n : gm.graph->nodes()) {
    std::function<void(const Arg&)> check_arg = [&](const Arg& a) {
      if (a.is_sym()) check(a.sym(), "an argument of '" + n->name() + "'");
      if (a.is_list())
        for (const Arg& x : a.list()) check_arg(x);
    };
    for (const Arg& a : n->args()) check_arg(a);
    for (const auto& [name, a] : n->kwargs()) check_arg(a);
  }
  for (const SymGuard& g : gm.guards) {
    check(g.lhs, "guard " + g.str());
    check(g.rhs, "guard " + g.str());
  }
}
}  // namespace

std::shared_ptr<GraphModule> module_from_json(const json& j) {
  Reader r{"module"};
  auto gm = std::make_shared<GraphModule>();
  read_module_header(*gm, j, r);
  if (j.contains("custom_ops")) {
    const json& list = j["custom_ops"];
    if (!list.is_array()) r.fail("custom_ops must be a list of schemas");
    for (const json& text : list) {
      if (!text.is_string()) r.fail("custom_ops must be a list of schemas");
      ops::Schema schema;
      try {
        schema = ops::parse_schema(text.get<std::string>());
      } catch (const Error& e) {
        r.fail(fmt::format("custom op schema {} does not parse: {}", quote_excerpt(text.dump()), e.message()));
      }
      ops::declare_op_schema(schema);
    }
  }
  const json& nodes = r.at(j, "nodes");
  if (!nodes.is_array()) r.fail("nodes must be a list");
  NodeReader reader{*gm, {}};
  for (size_t i = 0; i < nodes.size(); ++i) reader.read(nodes[i], i);
  read_symbolic(*gm, j, r);
  verify(*gm);
  verify_metadata(*gm);
  return gm;
}

json parse_json_text(const std::string& text, const char* what) {
  return parse_untrusted_json(text, what);
}

std::string to_json(const GraphModule& gm) {
  json j{{"format", "aotgrad-graph"},
         {"version", kFormatVersion},
         {"producer", "aotgrad " AOTGRAD_VERSION},
         {"module", module_to_json(gm)}};
  return j.dump(1);
}

std::shared_ptr<GraphModule> from_json(const std::string& text) {
  json j = parse_json_text(text, "graph file");
  Reader r{"top level"};
  if (r.str(j, "format") != "aotgrad-graph") r.fail("not an aotgrad graph file (format is not \"aotgrad-graph\")");
  int64_t version = r.integer(r.at(j, "version"), "version");
  if (version < kOldestFormatVersion || version > kFormatVersion)
    r.fail(fmt::format("format version {} is not supported (this build reads versions {} to {})", version,
                       kOldestFormatVersion, kFormatVersion));
  return module_from_json(r.at(j, "module"));
}

}  // namespace aotgrad::graph
