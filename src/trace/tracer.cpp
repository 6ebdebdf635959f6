#include "trace/tracer.h"

#include <execinfo.h>

#include <algorithm>
#include <atomic>
#include <map>

#include "aotgrad/autograd.h"
#include "aotgrad/prims.h"
#include "autograd/node.h"
#include "ops/registry.h"
#include "support/error.h"
#include "support/stack.h"
#include "trace/symbolize.h"

namespace aotgrad::trace {

using graph::Arg;
using graph::FakeVal;
using graph::Node;
using graph::TensorVal;
using ops::OpId;

namespace {
constexpr int kStackDepth = 40;

Arg::List IntList2Arg(const Shape& s) {
  Arg::List l;
  for (int64_t v : s) l.emplace_back(v);
  return l;
}

class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled) : prev_(ops::grad_mode_enabled()) { ops::set_grad_mode(enabled); }
  ~GradModeGuard() { ops::set_grad_mode(prev_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool prev_;
};
}  // namespace

std::string ProxyState::label() const {
  if (origin == nullptr || origin->op() != graph::NodeOp::Placeholder) return "";
  return origin->meta.desc ? origin->name() + ", " + origin->meta.desc->str() : origin->name();
}

ProxyState* proxy_state(const Tensor& t) {
  if (!t.defined()) return nullptr;
  return dynamic_cast<ProxyState*>(t.impl()->extension.get());
}

namespace {
std::atomic<int64_t> g_traces_started{0};
}  // namespace

int64_t traces_started() {
  return g_traces_started.load();
}

Tracer::Tracer(graph::GraphModule& gm, TraceOptions options)
    : gm_(gm), options_(std::move(options)), prev_capture_stacks_(autograd::capture_stacks()) {
  ++g_traces_started;
  // Autograd nodes made while tracing keep their call stack for their backward nodes.
  autograd::set_capture_stacks(options_.record_stack_traces);
}

Tracer::~Tracer() {
  autograd::set_capture_stacks(prev_capture_stacks_);
}

void Tracer::stamp(Node* n, const ops::OpInfo* op) {
  graph::NodeMeta& m = n->meta;
  if (autograd::in_gradient_accumulation() && op != nullptr && op->id == OpId::add_Tensor) {
    // The sum of two gradient contributions belongs to no single forward op.
    m.is_gradient_acc = true;
    m.is_backward = true;
    return;
  }
  if (const autograd::Node* bw = autograd::current_backward_node(); bw != nullptr && bw->seq_nr() != UINT64_MAX) {
    // Note [Backward inherits the forward's context] (engine.cpp).
    m.is_backward = true;
    m.seq_nr = static_cast<int64_t>(bw->seq_nr());
    if (const auto& ctx = bw->creation_context) {
      m.custom = ctx->custom;
      if (!ctx->stack_trace.empty())
        m.stack_trace = ctx->stack_trace;
      else if (!ctx->frames.empty())
        keep_frames(n, ctx->frames.data(), static_cast<int>(ctx->frames.size()), ctx->frames_inside_anchor);
    }
    return;
  }
  m.is_backward = autograd::in_backward();
  m.seq_nr = static_cast<int64_t>(autograd::peek_sequence_nr());
  m.custom = current_annotations();
  if (!current_stack_trace_override().empty()) {
    m.stack_trace = current_stack_trace_override();
  } else if (options_.record_stack_traces) {
    // Deep enough to pass the dispatcher and reach the caller of the op.
    void* frames[kStackDepth];
    const int count = capture_frames(frames, kStackDepth);
    keep_frames(n, frames, count, frames_inside_anchor(stack_depth(), stack_anchor_depth()));
  }
}

void Tracer::keep_frames(Node* n, void* const* frames, int count, int inside_anchor) {
  if (options_.stack_frames == StackFrames::InsideAnchors) {
    if (inside_anchor < 0) return;  // made outside every annotate_fn: no stack trace
    count = std::min(count, inside_anchor);
  }
  frames_[n].assign(frames, frames + count);
}

void Tracer::copy_stamp(Node* to, const Node* from) {
  to->meta.custom = from->meta.custom;
  to->meta.seq_nr = from->meta.seq_nr;
  to->meta.is_backward = from->meta.is_backward;
  to->meta.is_gradient_acc = from->meta.is_gradient_acc;
  to->meta.stack_trace = from->meta.stack_trace;
  auto it = frames_.find(const_cast<Node*>(from));
  if (it != frames_.end()) frames_[to] = it->second;
}

void Tracer::finish() {
  // A backward node shares its forward op's stack: symbolize each distinct stack once.
  std::map<std::vector<void*>, StackTrace> symbolized;
  for (auto& [node, frames] : frames_) {
    auto it = symbolized.find(frames);
    if (it == symbolized.end()) it = symbolized.emplace(frames, StackTrace{user_frames(frames), {}}).first;
    node->meta.stack_trace = it->second;
  }
  frames_.clear();
}

Tensor Tracer::attach(const Tensor& meta, Node* node) {
  auto state = std::make_shared<ProxyState>();
  state->tracer = this;
  state->node = node;
  state->origin = node;
  if (ProxyState* base = base_state(meta)) state->version = base->version;
  meta.impl()->extension = std::move(state);
  return meta;
}

Tensor Tracer::placeholder(const std::string& name, const Tensor& like, bool requires_grad,
                           const std::vector<int64_t>& dynamic_dims) {
  Node* n = gm_.graph->placeholder(name);
  Tensor proxy = Tensor::meta(like.sizes(), like.dtype(), like.strides(), 0);
  assign_input_symbols(proxy, name, like, dynamic_dims);
  n->meta.val = FakeVal::tensor(TensorVal::of(proxy));
  attach(proxy, n);
  if (requires_grad) proxy.set_requires_grad(true);
  placeholder_of_[proxy.impl()] = n;
  return proxy;
}

bool Tracer::is_proxy(const Tensor& t) const {
  ProxyState* s = proxy_state(t);
  return s != nullptr && s->tracer == this;
}

bool Tracer::was_mutated(const Tensor& p) const {
  auto it = placeholder_of_.find(p.impl());
  return it != placeholder_of_.end() && proxy_state(p)->node != it->second;
}

ProxyState* Tracer::base_state(const Tensor& t) {
  const auto& base = t.impl()->view_base;
  if (!base) return nullptr;
  auto* s = dynamic_cast<ProxyState*>(base->extension.get());
  AG_CHECK(s != nullptr && s->tracer == this, "trace: {} is a view of a tensor this trace does not know", t.describe());
  return s;
}

void Tracer::set_value(const Tensor& proxy, const Tensor& value) {
  AG_CHECK(is_proxy(proxy) && proxy.impl()->view_base == nullptr,
           "trace: set_value needs a proxy that is not a view, got {}", proxy.describe());
  ProxyState* s = proxy_state(proxy);
  s->node = node_of(value);
  ++s->version;
}

Node* Tracer::node_of(const Tensor& t) {
  if (ProxyState* s = proxy_state(t)) {
    AG_CHECK(s->tracer == this, "trace: a proxy tensor {} from another trace was used", t.describe());
    ProxyState* base = t.is_meta() ? base_state(t) : nullptr;
    if (base != nullptr && base->version != s->version) {
      // The base was written after this view was made: regenerate the view from it.
      Tensor b(t.impl()->view_base);
      specialize_sizes(b, "a view regenerated after a write into its base");
      AG_CHECK(b.is_contiguous(), "trace: cannot regenerate a view of the non-contiguous base {}", b.describe());
      Node* n = gm_.graph->call_function(ops::op_info(OpId::as_strided),
                                         {Arg(base->node), Arg(IntList2Arg(t.sizes())), Arg(IntList2Arg(t.strides())),
                                          Arg(t.storage_offset() - b.storage_offset())});
      n->meta.val = FakeVal::tensor(TensorVal::of(t));
      if (s->origin != nullptr) copy_stamp(n, s->origin);  // the view's own code made it
      s->node = n;
      s->version = base->version;
    }
    return s->node;
  }
  AG_CHECK(!t.is_meta(), "trace: a meta tensor {} that is not a proxy of this trace was used", t.describe());
  // A real tensor the traced code captured (a module attribute, a constant it
  // made): it becomes a graph constant read by get_attr. The backward reads it again
  // with a get_attr of its own (`_tensor_constant0_1`), stamped with the forward op's
  // context, as PyTorch's joint graphs do: each phase's reads sit with that phase.
  const bool backward = autograd::in_backward();
  auto it = constants_.find({t.impl(), backward});
  if (it != constants_.end()) return it->second;
  auto forward_read = constants_.find({t.impl(), false});
  const std::string name = forward_read != constants_.end() ? forward_read->second->target().name : gm_.add_constant(t);
  Node* n = gm_.graph->get_attr(name);
  n->meta.val = FakeVal::tensor(TensorVal::of(t));
  if (backward)
    stamp(n, nullptr);  // the annotations of the forward op whose backward reads it
  else
    n->meta.custom = current_annotations();  // annotations reach get_attr nodes too
  constants_[{t.impl(), backward}] = n;
  return n;
}

Node* Tracer::subgraph_attr(const std::string& prefix, std::shared_ptr<graph::GraphModule> module) {
  const std::string name = gm_.add_subgraph(prefix, std::move(module));
  Node* n = gm_.graph->get_attr(name);
  stamp(n, nullptr);
  return n;
}

TensorList Tracer::record_higher_order(const std::string& hop, graph::Arg::List args, const TensorList& results,
                                       const std::function<void(graph::Node&)>& after) {
  Node* n = gm_.graph->call_higher_order(hop, std::move(args));
  stamp(n, nullptr);
  specialize_operands(*n, hop);
  n->meta.val.kind = FakeVal::Kind::Tuple;
  for (const Tensor& r : results)
    n->meta.val.items.push_back(r.defined() ? std::optional<TensorVal>(TensorVal::of(r)) : std::nullopt);
  TensorList proxies;
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].defined()) {
      proxies.emplace_back();
      continue;
    }
    Node* item = gm_.graph->getitem(n, static_cast<int64_t>(i));
    copy_stamp(item, n);
    Tensor proxy = Tensor::meta(results[i].sizes(), results[i].dtype(), results[i].strides());
    item->meta.val = FakeVal::tensor(TensorVal::of(proxy));
    proxies.push_back(attach(proxy, item));
  }
  if (after) after(*n);
  return proxies;
}

Tracer* active_tracer() {
  return dynamic_cast<Tracer*>(ops::current_mode());
}

Arg Tracer::to_arg(const IValue& v) {
  if (v.is_none()) return Arg();
  if (v.is_tensor()) return v.to_tensor().defined() ? Arg(node_of(v.to_tensor())) : Arg();
  if (v.is_int() && v.is_symbolic()) return sym_arg(v.to_sym_int().expr);
  if (v.is_int()) return Arg(v.to_int());
  if (v.is_double()) return Arg(v.to_double());
  if (v.is_bool()) return Arg(v.to_bool());
  if (v.is_string()) return Arg(v.to_string());
  if (v.is_dtype()) return Arg(v.to_dtype());
  Arg::List items;
  if (v.is_int_list() && v.is_symbolic())
    for (const SymInt& i : v.to_sym_int_list()) items.push_back(sym_arg(i.expr));
  else if (v.is_int_list())
    for (int64_t i : v.to_int_list()) items.emplace_back(i);
  else if (v.is_bool_list())
    for (bool b : v.to_bool_list()) items.emplace_back(b);
  else if (v.is_tensor_list())
    for (const Tensor& t : v.to_tensor_list()) items.push_back(t.defined() ? Arg(node_of(t)) : Arg());
  else
    AG_INTERNAL_CHECK(false, "trace: cannot record an argument of type {}", v.type_name());
  return Arg(std::move(items));
}

Outputs Tracer::decompose_or_record(const ops::OpInfo& op, const Args& args, bool feeds_inplace) {
  if (op.decomposition == nullptr || !options_.decompositions.contains(op.id)) return record(op, args);
  // Below autograd already: the decomposition's ops are recorded, not differentiated.
  Outputs outs;
  {
    ops::ModeGuard resume(this);
    GradModeGuard no_grad(false);
    outs = op.decomposition(args);
    // A decomposition may return one of its inputs, as PyTorch's do (copy returns
    // src). Standing in for an in-place op that is fine: the written tensor is only
    // pointed at the value. Otherwise autograd, above us, attaches history to what is
    // returned, so an input is returned as a fresh copy.
    if (!feeds_inplace) {
      const TensorList inputs = ops::tensor_slots(op, args);
      for (IValue& v : outs) {
        if (!v.is_tensor() || !v.to_tensor().defined()) continue;
        const Tensor out = v.to_tensor();
        if (std::any_of(inputs.begin(), inputs.end(), [&](const Tensor& in) { return out.is_same(in); }))
          v = IValue(prims::clone(out));
      }
    }
  }
  return outs;
}

Outputs Tracer::dispatch(const ops::OpInfo& op, const Args& args) {
  if (op.kind == ops::OpKind::InPlace) {
    const Tensor& self = args[0].to_tensor();
    // Note [Functional tracing]: the op recorded in place of an in-place op (op_table.def).
    std::optional<OpId> functional = op.functional;
    AG_INTERNAL_CHECK(functional.has_value(), "trace: in-place op {} has no functional form", op.qualified_name());
    AG_CHECK(is_proxy(self),
             "trace: {} writes into {}, which is not a traced value (a constant "
             "captured by the traced code cannot be mutated)",
             op.qualified_name(), self.describe());
    if (self.impl()->view_base) return write_through_view(ops::op_info(*functional), args);
    Outputs outs = decompose_or_record(ops::op_info(*functional), args, /*feeds_inplace=*/true);
    // The written tensor now holds the new value (Note [Functional tracing]).
    ProxyState* s = proxy_state(self);
    s->node = node_of(outs[0].to_tensor());
    ++s->version;  // its views are now stale
    return {args[0]};
  }
  return decompose_or_record(op, args);
}

Outputs Tracer::write_through_view(const ops::OpInfo& functional, const Args& args) {
  const Tensor& view = args[0].to_tensor();
  Tensor base(view.impl()->view_base);
  specialize_sizes(base, "a write through a view");
  AG_CHECK(base.is_contiguous(),
           "trace: {} writes into a view of the non-contiguous tensor {} (strides {}); only views of "
           "contiguous tensors can be written through",
           functional.qualified_name(), base.describe(), shape_str(base.strides()));
  // The view's new value, then the base with the view's window replaced by it.
  Outputs outs = decompose_or_record(functional, args, /*feeds_inplace=*/true);
  Node* value = node_of(outs[0].to_tensor());
  ProxyState* bs = proxy_state(base);
  Node* scatter =
      gm_.graph->call_function(ops::op_info(OpId::as_strided_scatter),
                               {Arg(node_of(base)), Arg(value), Arg(IntList2Arg(view.sizes())),
                                Arg(IntList2Arg(view.strides())), Arg(view.storage_offset() - base.storage_offset())});
  scatter->meta.val = FakeVal::tensor(TensorVal::of(base));
  copy_stamp(scatter, value);
  bs->node = scatter;
  ++bs->version;
  ProxyState* vs = proxy_state(view);
  vs->node = value;  // the view holds exactly the written value
  vs->version = bs->version;
  return {args[0]};
}

Outputs Tracer::record(const ops::OpInfo& op, const Args& args) {
  Outputs outs = ops::run_shape(op, args);
  // A view of a constant (a real tensor the traced code holds) is a value of its own:
  // the constant is never written under the trace, so nothing needs to follow it.
  if (op.kind == ops::OpKind::View && is_proxy(args[0].to_tensor())) {
    const Tensor& self = args[0].to_tensor();
    auto alias = [&](const Tensor& m) { return Tensor::alias(self, m.sizes(), m.strides(), m.storage_offset()); };
    for (auto& o : outs) {
      if (o.is_tensor())
        o = alias(o.to_tensor());
      else
        for (auto& t : o.to_tensor_list()) t = alias(t);
    }
  }
  // Arguments as a Python caller writes them: trailing defaults left out, keyword-only
  // arguments as keywords (and only when they differ from their default).
  const auto& params = op.schema.args;
  auto is_default = [&](size_t i) {
    return params[i].default_value.has_value() && *params[i].default_value == args[i];
  };
  size_t keep = 0;
  for (size_t i = 0; i < params.size(); ++i)
    if (!params[i].kwarg_only && !is_default(i)) keep = i + 1;
  Arg::List node_args;
  graph::Kwargs node_kwargs;
  for (size_t i = 0; i < params.size(); ++i) {
    if (params[i].kwarg_only) {
      if (!is_default(i)) node_kwargs.emplace_back(params[i].name, to_arg(args[i]));
    } else if (i < keep) {
      node_args.push_back(to_arg(args[i]));
    }
  }
  Node* node = gm_.graph->call_function(op, std::move(node_args), std::move(node_kwargs));
  stamp(node, &op);
  if (shape_env_ != nullptr) assign_sym_sizes(op, args, outs, *node);

  const bool single = op.schema.returns.size() == 1;
  if (single && outs[0].is_tensor()) {
    node->meta.val = FakeVal::tensor(TensorVal::of(outs[0].to_tensor()));
    attach(outs[0].to_tensor(), node);
    return outs;
  }
  // A tuple (several returns) or a list (Tensor[]): one getitem per element, as
  // make_fx makes them, right after the call and in order.
  TensorList elems = single ? outs[0].to_tensor_list() : ops::flatten_outputs(outs);
  node->meta.val.kind = FakeVal::Kind::Tuple;
  for (size_t i = 0; i < elems.size(); ++i) {
    const Tensor& e = elems[i];
    node->meta.val.items.push_back(e.defined() ? std::optional(TensorVal::of(e)) : std::nullopt);
    Node* item = gm_.graph->getitem(node, static_cast<int64_t>(i));
    copy_stamp(item, node);
    if (!e.defined()) continue;
    item->meta.val = FakeVal::tensor(TensorVal::of(e));
    attach(e, item);
  }
  if (single) outs[0] = IValue(elems);
  return outs;
}

}  // namespace aotgrad::trace
