// The graph IR (SPEC.md §4): FX semantics in C++.
//
// A Graph is an ordered list of Nodes of four kinds (placeholder, get_attr,
// call_function, output). A node has a unique FX-style name, a target, args and
// kwargs (node references, numbers, strings, dtypes, None, lists of these), its
// users, and typed meta (the fake value, descriptor, stack trace, annotations,
// seq_nr, …). Invariants the verifier checks: every argument node is defined
// earlier in the same graph, names are unique, users mirror args, exactly one
// output node comes last, descriptors are consistent.
//
// A GraphModule owns a graph with its constants (tensors read by get_attr),
// subgraphs and the pytree specs of its calling convention.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "aotgrad/annotate.h"
#include "aotgrad/descriptors.h"
#include "aotgrad/ivalue.h"
#include "aotgrad/pytree.h"
#include "aotgrad/sym.h"
#include "aotgrad/tensor.h"

namespace aotgrad::ops {
struct OpInfo;
}

namespace aotgrad::graph {

class Node;
class Graph;

enum class NodeOp { Placeholder, GetAttr, CallFunction, Output };
const char* node_op_name(NodeOp op);  // "placeholder", "call_function", …

/// An argument of a node: FX's argument types, with ints, floats and bools kept apart.
class Arg {
 public:
  using List = std::vector<Arg>;
  Arg() : v_(None{}) {}
  Arg(None) : v_(None{}) {}                   // NOLINT
  Arg(Node* n) : v_(n) {}                     // NOLINT
  Arg(int64_t i) : v_(i) {}                   // NOLINT
  Arg(int i) : v_(int64_t{i}) {}              // NOLINT
  Arg(double d) : v_(d) {}                    // NOLINT
  Arg(bool b) : v_(b) {}                      // NOLINT
  Arg(std::string s) : v_(std::move(s)) {}    // NOLINT
  Arg(const char* s) : v_(std::string(s)) {}  // NOLINT
  Arg(DType d) : v_(d) {}                     // NOLINT
  Arg(List l) : v_(std::move(l)) {}           // NOLINT
  /// A size computed from the graph's symbols (a view's shape in a symbolic graph).
  explicit Arg(SymExpr e) : v_(std::move(e)) {}

  bool is_none() const { return std::holds_alternative<None>(v_); }
  bool is_node() const { return std::holds_alternative<Node*>(v_); }
  bool is_int() const { return std::holds_alternative<int64_t>(v_); }
  bool is_double() const { return std::holds_alternative<double>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_string() const { return std::holds_alternative<std::string>(v_); }
  bool is_dtype() const { return std::holds_alternative<DType>(v_); }
  bool is_list() const { return std::holds_alternative<List>(v_); }
  bool is_sym() const { return std::holds_alternative<SymExpr>(v_); }
  Node* node() const { return std::get<Node*>(v_); }
  int64_t to_int() const { return std::get<int64_t>(v_); }
  double to_double() const { return std::get<double>(v_); }
  bool to_bool() const { return std::get<bool>(v_); }
  const std::string& str() const { return std::get<std::string>(v_); }
  DType dtype() const { return std::get<DType>(v_); }
  const List& list() const { return std::get<List>(v_); }
  const SymExpr& sym() const { return std::get<SymExpr>(v_); }
  List& list() { return std::get<List>(v_); }

  /// Calls f(Node*&) for every node reference, recursively.
  template <typename F>
  void for_each_node(F&& f) {
    if (is_node())
      f(std::get<Node*>(v_));
    else if (is_list())
      for (Arg& a : list()) a.for_each_node(f);
  }
  template <typename F>
  void for_each_node(F&& f) const {
    if (is_node())
      f(std::get<Node*>(v_));
    else if (is_list())
      for (const Arg& a : list()) a.for_each_node(f);
  }
  bool operator==(const Arg& o) const { return v_ == o.v_; }

 private:
  std::variant<None, Node*, int64_t, double, bool, std::string, DType, List, SymExpr> v_;
};
using Kwargs = std::vector<std::pair<std::string, Arg>>;

/// Shape, strides, offset and dtype of a tensor value; what meta["val"] holds.
struct TensorVal {
  Shape sizes, strides;
  int64_t offset = 0;
  DType dtype = DType::Float32;
  /// In a graph with symbolic shapes (docs/SYMBOLIC_SHAPES.md): each dimension's size
  /// as an expression of the graph's symbols, `sizes` holding their values at the
  /// example the graph was traced with (PyTorch's "hints"). Empty: every size is fixed.
  std::vector<SymExpr> sym_sizes;
  bool operator==(const TensorVal&) const = default;
  static TensorVal of(const Tensor& t);
  /// "f32[2, 3]", or with symbolic sizes "f32[s0, 3]"
  std::string str() const;
};

/// meta["val"]: nothing, one tensor, or a tuple/list of tensors (entries may be None).
struct FakeVal {
  enum class Kind { None, Tensor, Tuple } kind = Kind::None;
  std::vector<std::optional<TensorVal>> items;
  static FakeVal tensor(TensorVal t) { return {Kind::Tensor, {std::move(t)}}; }
  const TensorVal& as_tensor() const;
  bool operator==(const FakeVal&) const = default;
};

using aotgrad::Annotations;
using aotgrad::AnnotationValue;
/// Python's dict repr: {'pp_stage': 0, 'name': 'x'}
std::string annotations_str(const Annotations& a);

struct NodeMeta {
  FakeVal val;
  std::optional<Descriptor> desc;                    // placeholders
  std::vector<std::optional<Descriptor>> out_descs;  // the output node: one per value
  StackTrace stack_trace;                            // the user frames that asked for the op
  Annotations custom;
  std::optional<int64_t> seq_nr;
  bool is_gradient_acc = false;
  bool is_backward = false;  // partitioner_tag: made while running the backward
  bool operator==(const NodeMeta&) const = default;
  /// A copy of everything but `val` (graph::specialize computes values of its own,
  /// and copying size expressions only to drop them is most of a copy's cost).
  NodeMeta without_val() const {
    return {FakeVal{}, desc, out_descs, stack_trace, custom, seq_nr, is_gradient_acc, is_backward};
  }
};

/// What a call_function node calls.
struct Target {
  enum class Kind { None, Op, GetItem, Attribute, HigherOrder } kind = Kind::None;
  const ops::OpInfo* op = nullptr;  // Kind::Op
  std::string name;                 // attribute name (get_attr), HOP name, or ""
  /// How FX prints the callee: "torch.ops.aten.addmm.default", "operator.getitem".
  std::string qualified() const;
  bool operator==(const Target& o) const { return kind == o.kind && op == o.op && name == o.name; }
};

class Node {
 public:
  NodeOp op() const { return op_; }
  const std::string& name() const { return name_; }
  const Target& target() const { return target_; }
  const Arg::List& args() const { return args_; }
  const Kwargs& kwargs() const { return kwargs_; }
  /// Nodes whose args or kwargs refer to this one, in the order they were made.
  const std::vector<Node*>& users() const { return users_; }
  NodeMeta meta;

  /// Replaces args/kwargs, keeping users of the old and new argument nodes right.
  void set_args(Arg::List args, Kwargs kwargs);
  /// Points every user of this node at `other` instead.
  void replace_all_uses_with(Node* other);
  /// The nodes this one reads, in argument order, each once.
  std::vector<Node*> input_nodes() const;
  Graph* graph() const { return graph_; }

 private:
  friend class Graph;
  Node(Graph* g, NodeOp op, std::string name, Target target)
      : graph_(g), op_(op), name_(std::move(name)), target_(std::move(target)) {}
  void add_user(Node* u);
  void remove_user(Node* u);

  Graph* graph_;
  NodeOp op_;
  std::string name_;
  Target target_;
  Arg::List args_;
  Kwargs kwargs_;
  std::vector<Node*> users_;
};

/// FX's naming: a base name made unique with _1, _2, …; Python builtins and keywords
/// are never used bare ("sum" becomes "sum_1").
class Namespace {
 public:
  std::string create_name(const std::string& candidate);
  bool is_used(const std::string& name) const { return used_.count(name) > 0; }

 private:
  std::unordered_set<std::string> used_;
  std::unordered_map<std::string, int64_t> base_count_;
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  /// Appends a node named from `name_hint` (made unique). Placeholders are inserted
  /// after the existing placeholders; everything else goes at the end, before the
  /// output node if there is one.
  Node* create_node(NodeOp op, const std::string& name_hint, Target target, Arg::List args = {}, Kwargs kwargs = {});
  Node* placeholder(const std::string& name);
  /// `name` overrides the default name hint (the op's base name, "getitem", the attribute).
  Node* call_function(const ops::OpInfo& op, Arg::List args, Kwargs kwargs = {}, const std::string& name = "");
  Node* getitem(Node* tuple, int64_t index, const std::string& name = "");
  Node* get_attr(const std::string& attribute, const std::string& name = "");
  /// A call of the higher-order op `hop` ("invoke_subgraph", "flex_attention", …; see
  /// graph/higher_order.h): its subgraphs are get_attr nodes among the arguments.
  Node* call_higher_order(const std::string& hop, Arg::List args, const std::string& name = "");
  Node* output(Arg::List values);
  /// Removes a node without users.
  void erase(Node* n);
  /// Puts the nodes in `order`, a permutation of nodes() in which every node comes
  /// after its inputs (an internal error otherwise).
  void reorder(const std::vector<Node*>& order);

  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  std::vector<Node*> placeholders() const;
  Node* output_node() const;
  Node* find(const std::string& name) const;
  size_t size() const { return nodes_.size(); }

 private:
  Namespace names_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

/// The base name FX gives a node calling `op`: the overload packet's name ("addmm").
std::string op_base_name(const ops::OpInfo& op);

class GraphModule {
 public:
  GraphModule() : graph(std::make_unique<Graph>()) {}
  std::string name = "inner_f";
  std::unique_ptr<Graph> graph;
  /// The names of the forward's arguments before flattening ("primals", "tangents"),
  /// and the specs that flatten them into the placeholders and rebuild the outputs.
  std::vector<std::string> arg_names;
  std::optional<pytree::TreeSpec> in_spec, out_spec;
  /// The output is a tuple (`return (a, b)`), as the subgraphs of higher-order ops and
  /// the partitioned halves return in PyTorch; otherwise a list (make_fx of a function
  /// returning TensorList). Only the printed form differs.
  bool output_is_tuple = false;
  /// For a captured forward graph: the structure of the (args, kwargs) it was
  /// captured with and of the module's result.
  std::optional<pytree::TreeSpec> call_in_spec, call_out_spec;
  std::vector<std::pair<std::string, Tensor>> constants;  // get_attr targets, in order
  /// Symbolic shapes: where symbol s<k> comes from — dimension `dim` of the
  /// placeholder `placeholder` — so a call binds every symbol from its inputs; and the
  /// guards the trace recorded, which every call's sizes must meet.
  struct SymbolSource {
    std::string placeholder;
    int64_t dim = 0;
    bool operator==(const SymbolSource&) const = default;
  };
  std::vector<SymbolSource> symbols;
  std::vector<SymGuard> guards;
  std::vector<std::pair<std::string, std::shared_ptr<GraphModule>>> subgraphs;

  /// Adds a tensor constant named "_tensor_constant<N>" and returns the name.
  std::string add_constant(const Tensor& value);
  const Tensor* constant(const std::string& name) const;
  /// Adds a subgraph named `prefix` followed by the first free number
  /// ("repeated_subgraph0", "sdpa_score0") and returns the name; a module already
  /// held under that prefix keeps its name.
  std::string add_subgraph(const std::string& prefix, std::shared_ptr<GraphModule> module);
  /// The subgraph called `name`, or null.
  std::shared_ptr<GraphModule> subgraph(const std::string& name) const;
};

/// Copies `n` into `g` (same name, target, metadata), its node arguments mapped
/// through `map`, which learns the copy.
Node* copy_node(Graph& g, const Node& n, std::unordered_map<const Node*, Node*>& map);
/// A deep copy of the graph (subgraphs and constants shared: both are immutable).
std::shared_ptr<GraphModule> clone_module(const GraphModule& gm);
/// A module with `gm`'s name, calling convention, constants and subgraphs, and an
/// empty graph.
std::shared_ptr<GraphModule> module_like(const GraphModule& gm);

// ---- printing (src/graph/printer.cpp) ----
enum class PrintFormat { Expanded, Compact };
/// FX's print_readable: the class and its forward, with the subgraphs after it.
std::string print_readable(const GraphModule& gm, PrintFormat format = PrintFormat::Expanded);
/// Python's repr of a float: 1.0, 0.1, 1e-05, inf.
std::string python_float_repr(double v);

/// Graphviz text: forward and backward nodes in different colours, placeholders and
/// outputs labelled with their descriptors.
std::string to_dot(const GraphModule& gm);

// ---- the file format (src/graph/serialize.cpp) ----
/// The lossless, versioned JSON form (docs/GRAPH_FORMAT.md).
std::string to_json(const GraphModule& gm);
/// Parses JSON text; any malformed input is a user error naming what is wrong.
/// Nothing in the file is executed.
std::shared_ptr<GraphModule> from_json(const std::string& text);

// ---- checking (src/graph/verify.cpp) ----
/// Throws a user error describing the first broken invariant.
void verify(const GraphModule& gm);

/// Symbolic shapes: the value of each of `gm`'s symbols read from the sizes of the
/// inputs given for its placeholders (in order), after checking that every input
/// fits its placeholder's sizes with those values and that every guard holds — a
/// user error naming the input, the size it got and, for a guard, the guard and its
/// reason otherwise. A graph without symbols just checks the sizes.
std::map<int64_t, int64_t> bind_symbols(const GraphModule& gm, const std::vector<Shape>& input_sizes);
/// The same where only some inputs are at hand (a forward call has no tangents yet):
/// those given as nullopt are not checked, and no symbol may come from them.
std::map<int64_t, int64_t> bind_symbols(const GraphModule& gm, const std::vector<std::optional<Shape>>& input_sizes);
/// Removes call_function nodes whose results nobody uses, except those with effects
/// beyond their result (in-place, random, collective ops): returns how many went.
/// Every export ends with it (no dead `getitem` of a multi-output op is left, as in
/// PyTorch's graphs), and so does the compile pipeline's `dce` pass.
int eliminate_dead_code(GraphModule& gm);
/// The semantic check a loaded file gets on top of verify(): every op node's
/// arguments are bound to its schema, its shape rule is run on the recorded
/// metadata of its inputs, and the result must equal the node's own recorded
/// shape and dtype (subgraphs likewise). Throws a user error naming the node.
void verify_metadata(const GraphModule& gm);
/// A node's recorded value at one value of each symbol (`bindings`, from
/// bind_symbols): every size evaluated. A placeholder's layout keeps its order of dims
/// at the new sizes (an error if it is no dense packing), unless `input_layouts` gives
/// it by name; other nodes keep the example's strides, which the shape rules recompute.
FakeVal value_at(const Node& n, const std::map<int64_t, int64_t>& bindings,
                 const std::map<std::string, TensorVal>& input_layouts = {});
/// A copy of a graph with symbolic shapes at one value of each symbol (`bindings`,
/// from bind_symbols): every size, argument and layout a plain integer, recomputed by
/// the shape rules and checked against the expressions — the graph an export at that
/// size gives (docs/SYMBOLIC_SHAPES.md). No symbols or guards remain. Each
/// placeholder's layout is value_at's. (The compiler does not copy the graph: it
/// lowers the symbolic graph at the bindings, compile/program_builder.cpp.)
std::shared_ptr<GraphModule> specialize(const GraphModule& gm, const std::map<int64_t, int64_t>& bindings,
                                        const std::map<std::string, TensorVal>& input_layouts = {});

// ---- running (src/graph/interpreter.cpp) ----
/// Runs the graph on real inputs (one per placeholder) through the same ops as eager
/// code; returns one value per output slot (None where the output is None).
/// `around`, if given, wraps the evaluation of each call_function node (it must call
/// `run` once): a replay uses it to put the node's annotations in force.
///
/// `run_higher_order`, if given, runs the higher-order nodes instead of the kernels
/// (a replay under a trace records them again as higher-order ops).
using NodeWrapper = std::function<void(const Node& node, const std::function<void()>& run)>;
using HigherOrderRunner =
    std::function<std::vector<Tensor>(const GraphModule& owner, const Node& node, const std::vector<Tensor>& operands)>;
std::vector<IValue> interpret(const GraphModule& gm, const std::vector<IValue>& inputs,
                              const NodeWrapper& around = nullptr, const HigherOrderRunner& run_higher_order = nullptr);

/// The arguments of an op-calling node as its op takes them: positional, in schema
/// order, keyword arguments moved to their position, defaults filled, types checked.
/// Node references become `value_of(node)` (lists of nodes become tensor lists).
/// Higher-order op nodes have no schema: see graph/higher_order.h.
/// Size expressions among the arguments (a symbolic graph) take their values from
/// `bindings` (an error naming the symbol if one is missing).
Args bind_op_args(const Node& n, const std::function<IValue(const Node*)>& value_of,
                  const std::map<int64_t, int64_t>& bindings = {});
/// The value of each symbol in the example the graph was traced with (its
/// placeholders' recorded sizes): what a symbolic graph's metadata was computed at.
std::map<int64_t, int64_t> hint_bindings(const GraphModule& gm);

}  // namespace aotgrad::graph
