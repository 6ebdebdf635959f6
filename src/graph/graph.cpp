// Graph, Node and naming.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "aotgrad/graph.h"
#include "ops/registry.h"
#include "support/error.h"

namespace aotgrad::graph {

const char* node_op_name(NodeOp op) {
  switch (op) {
    case NodeOp::Placeholder:
      return "placeholder";
    case NodeOp::GetAttr:
      return "get_attr";
    case NodeOp::CallFunction:
      return "call_function";
    case NodeOp::Output:
      return "output";
  }
  return "?";
}

TensorVal TensorVal::of(const Tensor& t) {
  TensorVal v{t.sizes(), t.strides(), t.storage_offset(), t.dtype(), {}};
  if (t.has_symbolic_sizes())
    for (const SymInt& s : t.sym_sizes()) v.sym_sizes.push_back(s.expr);
  return v;
}

std::string TensorVal::str() const {
  std::string s(dtype_abbrev(dtype));
  if (sym_sizes.empty()) return s + shape_str(sizes);
  s += "[";
  for (size_t i = 0; i < sym_sizes.size(); ++i) {
    if (i) s += ", ";
    s += sym_sizes[i].str();
  }
  s += "]";
  return s;
}

const TensorVal& FakeVal::as_tensor() const {
  AG_CHECK(kind == Kind::Tensor && !items.empty() && items[0], "expected a node whose value is a single tensor");
  return *items[0];
}

std::string annotations_str(const Annotations& a) {
  std::string out = "{";
  for (size_t i = 0; i < a.size(); ++i) {
    out += (i ? ", '" : "'") + a[i].first + "': ";
    std::visit(
        [&](const auto& v) {
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<V, std::string>)
            out += "'" + v + "'";
          else if constexpr (std::is_same_v<V, bool>)
            out += v ? "True" : "False";
          else if constexpr (std::is_same_v<V, double>)
            out += python_float_repr(v);
          else
            out += std::to_string(v);
        },
        a[i].second);
  }
  return out + "}";
}

std::string Target::qualified() const {
  switch (kind) {
    case Kind::Op:
      return "torch.ops." + op->schema.dotted_name();
    case Kind::GetItem:
      return "operator.getitem";
    case Kind::HigherOrder:
      return "torch.ops.higher_order." + name;
    case Kind::Attribute:
      return name;
    case Kind::None:
      return "";
  }
  return "";
}

std::string op_base_name(const ops::OpInfo& op) {
  return op.schema.name;
}

// ---- Node ----

void Node::add_user(Node* u) {
  if (std::find(users_.begin(), users_.end(), u) == users_.end()) users_.push_back(u);
}

void Node::remove_user(Node* u) {
  users_.erase(std::remove(users_.begin(), users_.end(), u), users_.end());
}

std::vector<Node*> Node::input_nodes() const {
  std::vector<Node*> out;
  auto add = [&](Node* n) {
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  };
  for (const Arg& a : args_) a.for_each_node(add);
  for (const auto& [k, a] : kwargs_) a.for_each_node(add);
  return out;
}

void Node::set_args(Arg::List args, Kwargs kwargs) {
  for (Node* n : input_nodes()) n->remove_user(this);
  args_ = std::move(args);
  kwargs_ = std::move(kwargs);
  for (Node* n : input_nodes()) {
    AG_INTERNAL_CHECK(n->graph_ == graph_, "node '{}' refers to '{}' of another graph", name_, n->name_);
    n->add_user(this);
  }
}

void Node::replace_all_uses_with(Node* other) {
  std::vector<Node*> users = users_;
  for (Node* u : users) {
    Arg::List args = u->args_;
    Kwargs kwargs = u->kwargs_;
    auto swap = [&](Node*& n) {
      if (n == this) n = other;
    };
    for (Arg& a : args) a.for_each_node(swap);
    for (auto& [k, a] : kwargs) a.for_each_node(swap);
    u->set_args(std::move(args), std::move(kwargs));
  }
}

// ---- Namespace ----

namespace {
// Python keywords and builtins: FX never names a value after one of these.
const std::unordered_set<std::string>& illegal_names() {
  static const std::unordered_set<std::string> names = {
      "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
      "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
      "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
      // builtins
      "abs", "all", "any", "ascii", "bin", "bool", "breakpoint", "bytearray", "bytes", "callable", "chr", "classmethod",
      "compile", "complex", "copyright", "credits", "delattr", "dict", "dir", "divmod", "enumerate", "eval", "exec",
      "exit", "filter", "float", "format", "frozenset", "getattr", "globals", "hasattr", "hash", "help", "hex", "id",
      "input", "int", "isinstance", "issubclass", "iter", "len", "license", "list", "locals", "map", "max",
      "memoryview", "min", "next", "object", "oct", "open", "ord", "pow", "print", "property", "quit", "range", "repr",
      "reversed", "round", "set", "setattr", "slice", "sorted", "staticmethod", "str", "sum", "super", "tuple", "type",
      "vars", "zip",
      // names the printed code itself uses
      "self", "torch", "inf", "nan", "fx_pytree", "pytree", "operator", "device", "NoneType"};
  return names;
}
}  // namespace

std::string Namespace::create_name(const std::string& hint) {
  // Copying a graph names every node as its original (unique, already clean): the
  // common case takes one lookup, with the bookkeeping the general path would do.
  if (!hint.empty() && !std::isdigit(static_cast<unsigned char>(hint[0])) && hint.back() != '_' &&
      std::all_of(hint.begin(), hint.end(),
                  [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }) &&
      !used_.count(hint) && !illegal_names().count(hint)) {
    const size_t digits = hint.find_last_not_of("0123456789") + 1;
    const bool suffixed = digits < hint.size() && hint[digits - 1] == '_' && hint.size() - digits <= 15 &&
                          hint[digits] != '0';  // "x_01" is not "x_1": the general path renames it
    if (digits == hint.size() || suffixed) {
      used_.insert(hint);
      int64_t& count = base_count_[suffixed ? hint.substr(0, digits - 1) : hint];
      if (suffixed) count = std::stoll(hint.substr(digits));
      return hint;
    }
  }
  std::string candidate;
  for (char c : hint) candidate += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
  if (candidate.empty()) candidate = "_unnamed";
  if (std::isdigit(static_cast<unsigned char>(candidate[0]))) candidate = "_" + candidate;
  // Split a numeric suffix: "primals_3" is base "primals", number 3. A plain scan, not
  // a regex: names come from files, and std::regex recurses once per character.
  std::string base = candidate;
  int64_t num = 0;
  const size_t digits = candidate.find_last_not_of("0123456789") + 1;
  constexpr size_t kMaxSuffixDigits = 15;  // larger suffixes stay part of the name (no int64 overflow)
  if (digits > 0 && digits < candidate.size() && candidate[digits - 1] == '_' &&
      candidate.size() - digits <= kMaxSuffixDigits) {
    base = candidate.substr(0, digits - 1);
    num = std::stoll(candidate.substr(digits));
    candidate = base + "_" + std::to_string(num);
  }
  if (num == 0) num = base_count_[base];
  while (used_.count(candidate) || illegal_names().count(candidate)) {
    ++num;
    candidate = base + "_" + std::to_string(num);
  }
  used_.insert(candidate);
  base_count_[base] = num;
  return candidate;
}

// ---- Graph ----

Node* Graph::create_node(NodeOp op, const std::string& name_hint, Target target, Arg::List args, Kwargs kwargs) {
  std::unique_ptr<Node> node(new Node(this, op, names_.create_name(name_hint), std::move(target)));
  Node* n = node.get();
  auto pos = nodes_.end();
  if (op == NodeOp::Placeholder) {
    pos = std::find_if(nodes_.begin(), nodes_.end(), [](const auto& x) { return x->op() != NodeOp::Placeholder; });
  } else if (!nodes_.empty() && nodes_.back()->op() == NodeOp::Output) {
    AG_INTERNAL_CHECK(op != NodeOp::Output, "graph already has an output node");
    pos = nodes_.end() - 1;
  }
  nodes_.insert(pos, std::move(node));
  n->set_args(std::move(args), std::move(kwargs));
  return n;
}

Node* copy_node(Graph& g, const Node& n, std::unordered_map<const Node*, Node*>& map) {
  auto remap = [&](Arg a) {
    a.for_each_node([&](Node*& x) { x = map.at(x); });
    return a;
  };
  Arg::List args;
  for (const Arg& a : n.args()) args.push_back(remap(a));
  Kwargs kwargs;
  for (const auto& [k, a] : n.kwargs()) kwargs.emplace_back(k, remap(a));
  Node* c = g.create_node(n.op(), n.name(), n.target(), std::move(args), std::move(kwargs));
  c->meta = n.meta;
  map[&n] = c;
  return c;
}

std::shared_ptr<GraphModule> clone_module(const GraphModule& gm) {
  auto c = module_like(gm);
  c->symbols = gm.symbols;
  c->guards = gm.guards;
  std::unordered_map<const Node*, Node*> map;
  for (const auto& n : gm.graph->nodes()) copy_node(*c->graph, *n, map);
  return c;
}

std::shared_ptr<GraphModule> module_like(const GraphModule& gm) {
  auto c = std::make_shared<GraphModule>();
  c->name = gm.name;
  c->arg_names = gm.arg_names;
  c->in_spec = gm.in_spec;
  c->out_spec = gm.out_spec;
  c->call_in_spec = gm.call_in_spec;
  c->call_out_spec = gm.call_out_spec;
  c->constants = gm.constants;
  c->subgraphs = gm.subgraphs;
  return c;
}

Node* Graph::placeholder(const std::string& name) {
  return create_node(NodeOp::Placeholder, name, Target{Target::Kind::Attribute, nullptr, name});
}

Node* Graph::call_function(const ops::OpInfo& op, Arg::List args, Kwargs kwargs, const std::string& name) {
  return create_node(NodeOp::CallFunction, name.empty() ? op_base_name(op) : name, Target{Target::Kind::Op, &op, ""},
                     std::move(args), std::move(kwargs));
}

Node* Graph::getitem(Node* tuple, int64_t index, const std::string& name) {
  return create_node(NodeOp::CallFunction, name.empty() ? "getitem" : name, Target{Target::Kind::GetItem, nullptr, ""},
                     {tuple, index});
}

Node* Graph::get_attr(const std::string& attribute, const std::string& name) {
  return create_node(NodeOp::GetAttr, name.empty() ? attribute : name,
                     Target{Target::Kind::Attribute, nullptr, attribute});
}

Node* Graph::call_higher_order(const std::string& hop, Arg::List args, const std::string& name) {
  return create_node(NodeOp::CallFunction, name.empty() ? hop : name, Target{Target::Kind::HigherOrder, nullptr, hop},
                     std::move(args));
}

Node* Graph::output(Arg::List values) {
  return create_node(NodeOp::Output, "output", Target{Target::Kind::Attribute, nullptr, "output"},
                     {Arg(std::move(values))});
}

void Graph::erase(Node* n) {
  AG_INTERNAL_CHECK(n->users().empty(), "cannot erase node '{}': it still has users", n->name());
  n->set_args({}, {});
  nodes_.erase(std::find_if(nodes_.begin(), nodes_.end(), [&](const auto& x) { return x.get() == n; }));
}

void Graph::reorder(const std::vector<Node*>& order) {
  AG_INTERNAL_CHECK(order.size() == nodes_.size(), "reorder: {} nodes given for a graph of {}", order.size(),
                    nodes_.size());
  std::unordered_map<const Node*, size_t> position;
  for (size_t i = 0; i < order.size(); ++i) position[order[i]] = i;
  std::vector<std::unique_ptr<Node>> reordered(nodes_.size());
  for (auto& n : nodes_) {
    auto it = position.find(n.get());
    AG_INTERNAL_CHECK(it != position.end(), "reorder: node '{}' is missing from the order", n->name());
    for (const Node* in : n->input_nodes())
      AG_INTERNAL_CHECK(position.at(in) < it->second, "reorder: '{}' would come before its input '{}'", n->name(),
                        in->name());
    reordered[it->second] = std::move(n);
  }
  nodes_ = std::move(reordered);
}

std::vector<Node*> Graph::placeholders() const {
  std::vector<Node*> out;
  for (const auto& n : nodes_)
    if (n->op() == NodeOp::Placeholder) out.push_back(n.get());
  return out;
}

Node* Graph::output_node() const {
  return !nodes_.empty() && nodes_.back()->op() == NodeOp::Output ? nodes_.back().get() : nullptr;
}

Node* Graph::find(const std::string& name) const {
  for (const auto& n : nodes_)
    if (n->name() == name) return n.get();
  return nullptr;
}

// ---- GraphModule ----

std::string GraphModule::add_constant(const Tensor& value) {
  std::string name = "_tensor_constant" + std::to_string(constants.size());
  constants.emplace_back(name, value);
  return name;
}

std::string GraphModule::add_subgraph(const std::string& prefix, std::shared_ptr<GraphModule> module) {
  for (const auto& [n, m] : subgraphs)
    if (m == module && n.rfind(prefix, 0) == 0) return n;
  for (int64_t i = 0;; ++i) {
    std::string name = prefix + std::to_string(i);
    if (subgraph(name) == nullptr && constant(name) == nullptr) {
      subgraphs.emplace_back(name, std::move(module));
      return name;
    }
  }
}

std::shared_ptr<GraphModule> GraphModule::subgraph(const std::string& name) const {
  for (const auto& [n, m] : subgraphs)
    if (n == name) return m;
  return nullptr;
}

const Tensor* GraphModule::constant(const std::string& name) const {
  for (const auto& [n, t] : constants)
    if (n == name) return &t;
  return nullptr;
}

}  // namespace aotgrad::graph
