// Splitting the joint graph: a node is backward if it depends on a tangent; the
// policy picks which forward values cross to the backward (the saved values), and
// forward values the backward needs but that were not saved are recomputed there.
#include <algorithm>
#include <functional>
#include <optional>

#include "ops/registry.h"
#include "partition/partition_internal.h"
#include "support/error.h"

namespace aotgrad::partition {

using graph::Arg;
using graph::Node;
using graph::NodeOp;

int64_t Partition::saved_bytes() const {
  int64_t total = 0;
  for (const SavedValue& s : saved) total += s.bytes;
  return total;
}

int64_t Partition::saved_activation_bytes() const {
  int64_t total = 0;
  for (const SavedValue& s : saved)
    if (!s.is_primal) total += s.bytes;
  return total;
}

SymExpr Partition::saved_activation_sym_bytes() const {
  SymExpr total;
  for (const SavedValue& s : saved)
    if (!s.is_primal) total = total + s.sym_bytes;
  return total;
}

namespace detail {

int64_t tensor_bytes(const Node* n) {
  if (n->meta.val.kind != graph::FakeVal::Kind::Tensor) return 0;
  const graph::TensorVal& v = n->meta.val.as_tensor();
  return shape_numel(v.sizes) * static_cast<int64_t>(dtype_size(v.dtype));
}

SymExpr tensor_sym_bytes(const Node* n) {
  if (n->meta.val.kind != graph::FakeVal::Kind::Tensor) return SymExpr(0);
  const graph::TensorVal& v = n->meta.val.as_tensor();
  if (v.sym_sizes.empty()) return SymExpr(tensor_bytes(n));
  SymExpr bytes(static_cast<int64_t>(dtype_size(v.dtype)));
  for (const SymExpr& e : v.sym_sizes) bytes = bytes * e;
  return bytes;
}

namespace {
bool is_tangent(const Node* n) {
  return n->op() == NodeOp::Placeholder && n->meta.desc && n->meta.desc->kind() == Descriptor::Kind::TangentInput;
}
}  // namespace

JointView view_joint(const graph::GraphModule& joint) {
  JointView v;
  v.graph = joint.graph.get();
  const Node* out = v.graph->output_node();
  AG_CHECK(out != nullptr && !out->meta.out_descs.empty(),
           "partition: the graph has no output descriptors (it was not made by a joint export)");
  for (const auto& n : v.graph->nodes()) {
    if (is_tangent(n.get())) v.backward.insert(n.get());
    if (n->op() != NodeOp::CallFunction) continue;
    for (Node* in : n->input_nodes())
      if (v.backward.count(in)) v.backward.insert(n.get());
  }
  std::unordered_set<const Node*> seen;
  auto require = [&](const Node* n) {
    // Constants are read again by the backward's own get_attr, never saved.
    if (n->op() == NodeOp::GetAttr || v.backward.count(n)) return;
    if (seen.insert(n).second) v.required.push_back(n);
  };
  for (const auto& n : v.graph->nodes())
    if (n->op() == NodeOp::CallFunction && v.backward.count(n.get()))
      for (Node* in : n->input_nodes()) require(in);
  // Gradients that need no tangent (a constant zero, say) come from the forward.
  const Arg::List& values = out->args()[0].list();
  for (size_t i = 0; i < values.size(); ++i) {
    const auto& d = out->meta.out_descs[i];
    if (d && d->kind() == Descriptor::Kind::GradOutput && values[i].is_node()) require(values[i].node());
  }
  return v;
}

}  // namespace detail

namespace {
using detail::JointView;
using detail::tensor_bytes;

using graph::copy_node;

// Note [Descriptors on the halves]: the split graphs are described as the joint is.
// The forward takes the primals (their joint descriptors) and returns the forward
// outputs (theirs), then SavedForBackwardsAOTOutput(idx=k) per saved value, as
// PyTorch's partitioner labels them; the backward takes SavedForBackwardsAOTInput
// (idx=k) per saved value (aotgrad's own kind) and the tangents (theirs), and returns
// the gradients (theirs). Whoever runs the halves matches values by descriptor.
Node* placeholder_like(graph::Graph& g, const Node& p, std::unordered_map<const Node*, Node*>& map,
                       std::optional<Descriptor> desc) {
  Node* c = g.placeholder(p.name());
  c->meta = p.meta;
  c->meta.desc = std::move(desc);
  map[&p] = c;
  return c;
}

// "model.cpp:42 in forward": the innermost frame of a node's stack trace.
std::string source_line(const Node* n) {
  const StackFrame* f = n->meta.stack_trace.innermost();
  if (f == nullptr) return "";
  const size_t slash = f->file.rfind('/');
  return (slash == std::string::npos ? f->file : f->file.substr(slash + 1)) + ":" + std::to_string(f->line) + " in " +
         f->function;
}

// The values to save in place of `required`: a detach (Note [Saved results]) is the
// tensor it aliases with no history, so that tensor is saved and the backward takes
// the detach again, as PyTorch's partitioner saves a view's base.
std::vector<const Node*> without_detaches(const std::vector<const Node*>& required) {
  std::vector<const Node*> saved;
  for (const Node* n : required) {
    while (n->op() == NodeOp::CallFunction && n->target().kind == graph::Target::Kind::Op &&
           n->target().op->id == ops::OpId::detach)
      n = n->args()[0].node();
    if (std::find(saved.begin(), saved.end(), n) == saved.end()) saved.push_back(n);
  }
  return saved;
}

std::vector<const Node*> choose_saved(const JointView& view, const PartitionOptions& options, Partition& p) {
  if (options.policy == Policy::SaveAll) return without_detaches(view.required);
  AG_CHECK(options.memory_budget > 0 && options.memory_budget <= 1,
           "partition: memory_budget must be in (0, 1] (a fraction of what saving everything costs), but got {}",
           options.memory_budget);
  int64_t save_all = 0;
  for (const Node* n : view.required)
    if (n->op() != NodeOp::Placeholder) save_all += tensor_bytes(n);
  const auto target = static_cast<int64_t>(options.memory_budget * static_cast<double>(save_all));
  std::vector<const Node*> saved;
  for (auto level :
       {detail::RecomputeLevel::Cheap, detail::RecomputeLevel::Reductions, detail::RecomputeLevel::Everything}) {
    saved = detail::min_cut_saved(view, level);
    p.recompute_level = detail::level_name(level);
    int64_t bytes = 0;
    for (const Node* n : saved)
      if (n->op() != NodeOp::Placeholder) bytes += tensor_bytes(n);
    if (bytes <= target) break;
  }
  return saved;
}
}  // namespace

namespace {
// One split of a joint graph: the forward half, then the backward half.
class Split {
 public:
  Split(const graph::GraphModule& joint, const JointView& view, std::vector<const Node*> saved, Partition& p)
      : joint_(joint), view_(view), saved_(std::move(saved)), p_(p), out_(*joint.graph->output_node()) {}

  // The forward graph: primals in, forward outputs and saved values out. Only what
  // those need is kept (a value only the backward read may now be recomputed there).
  void forward() {
    const graph::Graph& jg = *joint_.graph;
    const Arg::List& values = out_.args()[0].list();
    std::vector<const Node*> results;
    std::vector<std::optional<Descriptor>> descs;
    for (size_t i = 0; i < values.size(); ++i) {
      const auto& d = out_.meta.out_descs[i];
      if (!d || d->kind() == Descriptor::Kind::GradOutput) continue;
      AG_CHECK(values[i].is_node() && !view_.backward.count(values[i].node()),
               "partition: forward output {} depends on a tangent", d->str());
      results.push_back(values[i].node());
      descs.push_back(d);
    }
    std::unordered_set<const Node*> live;
    std::function<void(const Node*)> mark = [&](const Node* n) {
      if (!live.insert(n).second) return;
      for (const Node* in : n->input_nodes()) mark(in);
    };
    for (const Node* n : results) mark(n);
    for (const Node* n : saved_) mark(n);
    // In-place writes back into inputs (inference graphs) are kept whatever reads them.
    for (const auto& n : jg.nodes())
      if (n->op() == NodeOp::CallFunction && n->target().kind == graph::Target::Kind::Op &&
          n->target().op->kind == ops::OpKind::InPlace && !view_.backward.count(n.get()))
        mark(n.get());

    p_.forward = half("fw_graph");
    for (const auto& n : jg.nodes()) {
      if (n->op() == NodeOp::Output || view_.backward.count(n.get())) continue;
      if (n->op() == NodeOp::Placeholder)
        placeholder_like(*p_.forward->graph, *n, fmap_, n->meta.desc);
      else if (live.count(n.get()))
        copy_node(*p_.forward->graph, *n, fmap_);
    }
    Arg::List fw_out;
    for (const Node* n : results) fw_out.emplace_back(fmap_.at(n));
    p_.num_forward_outputs = static_cast<int64_t>(fw_out.size());
    for (size_t k = 0; k < saved_.size(); ++k) {
      const Node* s = saved_[k];
      fw_out.emplace_back(fmap_.at(s));
      descs.push_back(Descriptor::saved_for_backwards_output(static_cast<int64_t>(k)));
      p_.saved.push_back(
          {s->name(), s->meta.val.kind == graph::FakeVal::Kind::Tensor ? s->meta.val.as_tensor().str() : "",
           tensor_bytes(s), s->op() == NodeOp::Placeholder, source_line(s), detail::tensor_sym_bytes(s)});
    }
    p_.forward->graph->output(std::move(fw_out))->meta.out_descs = std::move(descs);
  }

  // The backward graph: saved values and tangents in, the gradients out. A forward
  // value it needs that was not saved is recomputed just before its first use.
  void backward() {
    const graph::Graph& jg = *joint_.graph;
    p_.backward = half("bw_graph");
    graph::Graph& bg = *p_.backward->graph;
    for (size_t k = 0; k < saved_.size(); ++k)
      placeholder_like(bg, *saved_[k], bmap_, Descriptor::saved_for_backwards_input(static_cast<int64_t>(k)));
    for (const auto& n : jg.nodes())
      if (view_.backward.count(n.get()) && n->op() == NodeOp::Placeholder)
        placeholder_like(bg, *n, bmap_, n->meta.desc);
    for (const auto& n : jg.nodes())
      if (n->op() == NodeOp::CallFunction && view_.backward.count(n.get())) ensure(n.get());
    const Arg::List& values = out_.args()[0].list();
    Arg::List bw_out;
    std::vector<std::optional<Descriptor>> descs;
    for (size_t i = 0; i < values.size(); ++i) {
      const auto& d = out_.meta.out_descs[i];
      if (d && d->kind() != Descriptor::Kind::GradOutput) continue;
      descs.push_back(d);
      if (!values[i].is_node()) {
        bw_out.emplace_back();
        continue;
      }
      ensure(values[i].node());
      bw_out.emplace_back(bmap_.at(values[i].node()));
    }
    bg.output(std::move(bw_out))->meta.out_descs = std::move(descs);
  }

 private:
  const graph::GraphModule& joint_;
  const JointView& view_;
  std::vector<const Node*> saved_;
  Partition& p_;
  const Node& out_;
  std::unordered_map<const Node*, Node*> fmap_, bmap_;

  std::shared_ptr<graph::GraphModule> half(const char* name) const {
    auto gm = std::make_shared<graph::GraphModule>();
    gm->name = name;
    gm->output_is_tuple = true;
    gm->constants = joint_.constants;
    gm->subgraphs = joint_.subgraphs;
    return gm;
  }

  // `n` in the backward graph, recomputing it (and what it reads) if it was not saved.
  void ensure(const Node* n) {
    if (bmap_.count(n)) return;
    AG_INTERNAL_CHECK(n->op() != NodeOp::Placeholder, "partition: the backward needs primal {}, which was not saved",
                      n->name());
    for (const Node* in : n->input_nodes()) ensure(in);
    copy_node(*p_.backward->graph, *n, bmap_);
    if (n->op() == NodeOp::CallFunction && !view_.backward.count(n))
      p_.recomputed.push_back(
          {n->name(), n->target().qualified(), detail::recompute_reason(n, detail::RecomputeLevel::Everything)});
  }
};
}  // namespace

// A symbolic joint's halves bind its symbols from their own placeholders, so each
// prints and runs on its own: the forward from the primals (as the joint does, with
// its guards), the backward from the first saved value or tangent that has the
// symbol as a whole dim (PyTorch saves the SymInt instead and passes it as a
// `Sym(s0)` placeholder; the sizes read are the same).
static void bind_halves_to_symbols(const graph::GraphModule& joint, Partition& p) {
  if (joint.symbols.empty()) return;
  p.forward->symbols = joint.symbols;
  p.forward->guards = joint.guards;
  for (size_t k = 0; k < joint.symbols.size(); ++k) {
    const SymExpr symbol = SymExpr::symbol(static_cast<int64_t>(k));
    std::optional<graph::GraphModule::SymbolSource> source;
    for (const Node* ph : p.backward->graph->placeholders()) {
      if (source || ph->meta.val.kind != graph::FakeVal::Kind::Tensor) continue;
      const std::vector<SymExpr>& sizes = ph->meta.val.as_tensor().sym_sizes;
      for (size_t d = 0; d < sizes.size() && !source; ++d)
        if (sizes[d] == symbol) source = graph::GraphModule::SymbolSource{ph->name(), static_cast<int64_t>(d)};
    }
    AG_INTERNAL_CHECK(source.has_value(), "partition: no input of the backward has s{} as a dim", k);
    p.backward->symbols.push_back(*source);
  }
}

// Whether `n`'s value has symbol s<k> as a whole dim.
static bool has_dim(const Node* n, int64_t k) {
  if (n->meta.val.kind != graph::FakeVal::Kind::Tensor) return false;
  const std::vector<SymExpr>& sizes = n->meta.val.as_tensor().sym_sizes;
  return std::find(sizes.begin(), sizes.end(), SymExpr::symbol(k)) != sizes.end();
}

// So the backward can bind every symbol from its inputs: where no saved value or
// tangent has it as a whole dim, the primal it comes from is saved too (a reference
// to an input, no copy).
static void save_symbol_carriers(const graph::GraphModule& joint, const JointView& view,
                                 std::vector<const Node*>& saved) {
  for (size_t k = 0; k < joint.symbols.size(); ++k) {
    const auto key = static_cast<int64_t>(k);
    bool carried = std::any_of(saved.begin(), saved.end(), [&](const Node* n) { return has_dim(n, key); });
    for (const Node* ph : joint.graph->placeholders()) carried |= view.backward.count(ph) && has_dim(ph, key);
    if (!carried) saved.insert(saved.begin(), joint.graph->find(joint.symbols[k].placeholder));
  }
}

Partition partition_joint(const graph::GraphModule& joint, const PartitionOptions& options) {
  const JointView view = detail::view_joint(joint);
  Partition p;
  p.policy = options.policy;
  std::vector<const Node*> saved = choose_saved(view, options, p);
  save_symbol_carriers(joint, view, saved);
  Split split(joint, view, std::move(saved), p);
  split.forward();
  split.backward();
  bind_halves_to_symbols(joint, p);
  graph::verify(*p.forward);
  graph::verify(*p.backward);
  return p;
}

}  // namespace aotgrad::partition
