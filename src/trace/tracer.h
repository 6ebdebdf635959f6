// The tracer: a DispatchMode that records ops into a GraphModule (internal API
// shared by make_fx and the joint export).
//
// Note [Functional tracing]
// Graphs are functional (SPEC.md §7): an in-place op is recorded as its functional
// form (add_ as add, copy_ as copy, index_put_ as index_put) and the written tensor's
// proxy is re-pointed at the new node, so later reads see the new value. The
// tracer remembers which placeholders were written to; the export turns their
// final values into InputMutationAOTOutputs.
//
// A write through a view records the functional op on the view's value, then
// as_strided_scatter of that result into the base's value, which becomes the
// base's new node. Every write bumps the base's version; a view whose recorded
// version is behind is regenerated from the base (as_strided of its current value)
// the next time it is read, so views made before a write see it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "aotgrad/trace.h"
#include "ops/dispatch.h"
#include "ops/sym_shape.h"

namespace aotgrad::trace {

class Tracer;

/// What the tracer attaches to each proxy tensor.
struct ProxyState : TensorExtension {
  Tracer* tracer = nullptr;
  graph::Node* node = nullptr;
  /// The node that made this tensor (a regenerated view copies its metadata).
  graph::Node* origin = nullptr;
  /// On a base: bumped by every write into it or into a view of it. On a view: the
  /// base's version its node reflects.
  int64_t version = 0;
  /// For a placeholder's proxy: its name and descriptor, for error messages.
  std::string label() const override;
};

class Tracer : public ops::DispatchMode {
 public:
  Tracer(graph::GraphModule& gm, TraceOptions options);
  ~Tracer() override;
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;
  /// Symbolizes the captured stacks into meta["stack_trace"]; call once tracing is done.
  void finish();

  /// A placeholder and the proxy tensor standing for it. In a symbolic trace, each of
  /// `dynamic_dims` gets a new symbol (GraphModule::symbols says where it comes from),
  /// and a `like` with size expressions (a tangent shaped as an output) keeps them.
  Tensor placeholder(const std::string& name, const Tensor& like, bool requires_grad,
                     const std::vector<int64_t>& dynamic_dims = {});
  /// Makes this a symbolic trace (docs/SYMBOLIC_SHAPES.md): ops on proxies with size
  /// expressions run their symbolic shape rules in `env`, which outlives the trace.
  void set_shape_env(ops::ShapeEnv* env) { shape_env_ = env; }
  ops::ShapeEnv* shape_env() const { return shape_env_; }
  /// A symbolic trace's end: every size expression and argument in the graph written
  /// with the symbols that remain (those found equal to others or to constants
  /// replaced), renumbered s0, s1, … in order, and the guards recorded on the graph.
  void finish_symbolic();
  /// The node producing `t`'s current value: its proxy's node, or for a real tensor,
  /// a get_attr of a new graph constant.
  graph::Node* node_of(const Tensor& t);
  /// Whether `t` is a proxy of this tracer.
  bool is_proxy(const Tensor& t) const;
  /// The placeholder a proxy was made for, if it is one and was written to.
  bool was_mutated(const Tensor& placeholder_proxy) const;
  /// Makes `value`'s node the new value of `proxy`, as an in-place copy would
  /// (replaying a captured graph's InputMutationAOTOutputs).
  void set_value(const Tensor& proxy, const Tensor& value);

  /// A get_attr node (stamped like an op's node) reading `module`, which the traced
  /// module holds as a subgraph named `prefix`N.
  graph::Node* subgraph_attr(const std::string& prefix, std::shared_ptr<graph::GraphModule> module);
  /// Records one call of the higher-order op `hop` whose results have the layouts of
  /// `results` (meta tensors; undefined for None). The node returns a tuple read with
  /// getitem nodes; the proxies of those come back, undefined where `results` is.
  /// `after` (if given) sees the higher-order node once its getitems are made: meta
  /// that is the call's own (invoke_subgraph's call_id) and not its results'.
  TensorList record_higher_order(const std::string& hop, graph::Arg::List args, const TensorList& results,
                                 const std::function<void(graph::Node&)>& after = nullptr);

  /// State a higher-order op keeps for the length of this trace (traced subgraphs to
  /// reuse), by key; empty until the op fills it.
  std::shared_ptr<void>& hop_cache(const std::string& key) { return hop_cache_[key]; }
  /// 0, 1, 2, … per kind: numbers the regions of one trace ("fw_subgraph_0").
  int64_t next_hop_index(const std::string& kind) { return hop_counts_[kind]++; }
  const TraceOptions& options() const { return options_; }

  Outputs dispatch(const ops::OpInfo& op, const Args& args) override;
  void specialize(const SymExpr& e, const std::string& reason) override;
  graph::GraphModule& module() { return gm_; }

 private:
  graph::Arg to_arg(const IValue& v);
  Outputs record(const ops::OpInfo& op, const Args& args);
  Tensor attach(const Tensor& meta, graph::Node* node);
  Outputs write_through_view(const ops::OpInfo& functional, const Args& args);
  /// The op's decomposition if the table asks for it, else one recorded node.
  /// Keeps the innermost `count` of `frames` for n's stack trace, cut to the
  /// `inside_anchor` innermost under StackFrames::InsideAnchors.
  void keep_frames(graph::Node* n, void* const* frames, int count, int inside_anchor);
  Outputs decompose_or_record(const ops::OpInfo& op, const Args& args, bool feeds_inplace = false);
  /// The results' size expressions from the op's symbolic rule (or specialised inputs).
  void assign_sym_sizes(const ops::OpInfo& op, const Args& args, const Outputs& outs, const graph::Node& node);
  /// A size argument: an expression while it has symbols, else a plain integer.
  graph::Arg sym_arg(const SymExpr& e) const;
  /// A placeholder's proxy: `like`'s size expressions, and a new symbol for each of
  /// `dynamic_dims` (GraphModule::symbols records where it comes from).
  void assign_input_symbols(const Tensor& proxy, const std::string& name, const Tensor& like,
                            const std::vector<int64_t>& dynamic_dims);
  /// A higher-order op's operands take fixed sizes: their symbols are specialised.
  void specialize_operands(const graph::Node& n, const std::string& hop);
  /// Specialises the symbols of a tensor that an operation needs fixed sizes for.
  void specialize_sizes(const Tensor& t, const std::string& reason);
  /// Sets seq_nr, annotations, the backward flag and the call stack of a new node.
  void stamp(graph::Node* n, const ops::OpInfo* op);
  void copy_stamp(graph::Node* to, const graph::Node* from);
  /// The base a view's storage belongs to (null for a non-view), checked to be ours.
  ProxyState* base_state(const Tensor& t);

  graph::GraphModule& gm_;
  TraceOptions options_;
  std::map<std::pair<const TensorImpl*, bool>, graph::Node*> constants_;  // (constant, read by the backward)
  std::unordered_map<const TensorImpl*, graph::Node*> placeholder_of_;    // proxy impl -> placeholder
  std::unordered_map<graph::Node*, std::vector<void*>> frames_;           // captured, not yet symbolized
  bool prev_capture_stacks_ = false;
  std::unordered_map<std::string, std::shared_ptr<void>> hop_cache_;
  std::unordered_map<std::string, int64_t> hop_counts_;
  ops::ShapeEnv* shape_env_ = nullptr;
};

/// The proxy state of `t` if it is a proxy of any tracer.
ProxyState* proxy_state(const Tensor& t);

/// The tracer handling ops on this thread, if one is active.
Tracer* active_tracer();

}  // namespace aotgrad::trace
