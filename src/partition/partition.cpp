// Splitting the joint graph: a node is backward if it depends on a tangent; the
// policy picks which forward values cross to the backward (the saved values), and
// forward values the backward needs but that were not saved are recomputed there.
#include <functional>

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

namespace detail {

int64_t tensor_bytes(const Node* n) {
  if (n->meta.val.kind != graph::FakeVal::Kind::Tensor) return 0;
  const graph::TensorVal& v = n->meta.val.as_tensor();
  return shape_numel(v.sizes) * static_cast<int64_t>(dtype_size(v.dtype));
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

// The split graphs carry no descriptors: their calling convention (primals in;
// forward outputs then saved values out; saved values and tangents in, gradients out)
// is Partition's, and saved values have no descriptor kind of their own.
Node* placeholder_like(graph::Graph& g, const Node& p, std::unordered_map<const Node*, Node*>& map) {
  Node* c = g.placeholder(p.name());
  c->meta = p.meta;
  c->meta.desc.reset();
  map[&p] = c;
  return c;
}

// "model.cpp:42 in forward": the innermost frame of a node's stack trace.
std::string source_line(const Node* n) {
  const std::string& st = n->meta.stack_trace;
  size_t at = st.rfind("File \"");
  if (at == std::string::npos) return "";
  size_t file_end = st.find('"', at + 6);
  size_t line_at = st.find("line ", file_end);
  size_t line_end = st.find(',', line_at);
  size_t in_at = st.find("in ", line_end);
  size_t in_end = st.find('\n', in_at);
  if (file_end == std::string::npos || line_at == std::string::npos || line_end == std::string::npos ||
      in_at == std::string::npos)
    return "";
  std::string file = st.substr(at + 6, file_end - at - 6);
  if (size_t slash = file.rfind('/'); slash != std::string::npos) file = file.substr(slash + 1);
  return file + ":" + st.substr(line_at + 5, line_end - line_at - 5) + " in " +
         st.substr(in_at + 3, in_end == std::string::npos ? std::string::npos : in_end - in_at - 3);
}

std::vector<const Node*> choose_saved(const JointView& view, const PartitionOptions& options, Partition& p) {
  if (options.policy == Policy::SaveAll) return view.required;
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

Partition partition_joint(const graph::GraphModule& joint, const PartitionOptions& options) {
  const JointView view = detail::view_joint(joint);
  const graph::Graph& jg = *joint.graph;
  const Node* out = jg.output_node();
  const Arg::List& values = out->args()[0].list();
  Partition p;
  p.policy = options.policy;
  std::vector<const Node*> saved = choose_saved(view, options, p);
  std::unordered_set<const Node*> saved_set(saved.begin(), saved.end());

  // The forward graph: primals in, forward outputs and saved values out. Only what
  // those need is kept (a value only the backward read may now be recomputed there).
  std::vector<const Node*> fw_results;
  for (size_t i = 0; i < values.size(); ++i) {
    const auto& d = out->meta.out_descs[i];
    if (!d || d->kind() == Descriptor::Kind::GradOutput) continue;
    AG_CHECK(values[i].is_node() && !view.backward.count(values[i].node()),
             "partition: forward output {} depends on a tangent", d->str());
    fw_results.push_back(values[i].node());
  }
  std::unordered_set<const Node*> live;
  std::function<void(const Node*)> mark = [&](const Node* n) {
    if (!live.insert(n).second) return;
    for (const Node* in : n->input_nodes()) mark(in);
  };
  for (const Node* n : fw_results) mark(n);
  for (const Node* n : saved) mark(n);
  // In-place writes back into inputs (inference graphs) are kept whatever reads them.
  for (const auto& n : jg.nodes())
    if (n->op() == NodeOp::CallFunction && n->target().kind == graph::Target::Kind::Op &&
        n->target().op->kind == ops::OpKind::InPlace && !view.backward.count(n.get()))
      mark(n.get());

  p.forward = std::make_shared<graph::GraphModule>();
  p.forward->name = "fw_graph";
  p.forward->constants = joint.constants;
  p.forward->subgraphs = joint.subgraphs;
  std::unordered_map<const Node*, Node*> fmap;
  for (const auto& n : jg.nodes()) {
    if (n->op() == NodeOp::Output || view.backward.count(n.get())) continue;
    if (n->op() == NodeOp::Placeholder)
      placeholder_like(*p.forward->graph, *n, fmap);
    else if (live.count(n.get()))
      copy_node(*p.forward->graph, *n, fmap);
  }
  Arg::List fw_out;
  for (const Node* n : fw_results) fw_out.emplace_back(fmap.at(n));
  p.num_forward_outputs = static_cast<int64_t>(fw_out.size());
  for (const Node* s : saved) {
    fw_out.emplace_back(fmap.at(s));
    p.saved.push_back({s->name(), s->meta.val.kind == graph::FakeVal::Kind::Tensor ? s->meta.val.as_tensor().str() : "",
                       tensor_bytes(s), s->op() == NodeOp::Placeholder, source_line(s)});
  }
  p.forward->graph->output(std::move(fw_out));

  // The backward graph: saved values and tangents in, the gradients out. A forward
  // value it needs that was not saved is recomputed just before its first use.
  p.backward = std::make_shared<graph::GraphModule>();
  p.backward->name = "bw_graph";
  p.backward->constants = joint.constants;
  p.backward->subgraphs = joint.subgraphs;
  graph::Graph& bg = *p.backward->graph;
  std::unordered_map<const Node*, Node*> bmap;
  for (const Node* s : saved) placeholder_like(bg, *s, bmap);
  for (const auto& n : jg.nodes())
    if (view.backward.count(n.get()) && n->op() == NodeOp::Placeholder) placeholder_like(bg, *n, bmap);
  std::function<void(const Node*)> ensure = [&](const Node* n) {
    if (bmap.count(n)) return;
    AG_INTERNAL_CHECK(n->op() != NodeOp::Placeholder, "partition: the backward needs primal {}, which was not saved",
                      n->name());
    for (const Node* in : n->input_nodes()) ensure(in);
    copy_node(bg, *n, bmap);
    if (n->op() == NodeOp::CallFunction && !view.backward.count(n)) {
      p.recomputed.push_back(
          {n->name(), n->target().qualified(), detail::recompute_reason(n, detail::RecomputeLevel::Everything)});
    }
  };
  for (const auto& n : jg.nodes())
    if (n->op() == NodeOp::CallFunction && view.backward.count(n.get())) ensure(n.get());
  Arg::List bw_out;
  for (size_t i = 0; i < values.size(); ++i) {
    const auto& d = out->meta.out_descs[i];
    if (d && d->kind() != Descriptor::Kind::GradOutput) continue;
    if (!values[i].is_node()) {
      bw_out.emplace_back();
      continue;
    }
    ensure(values[i].node());
    bw_out.emplace_back(bmap.at(values[i].node()));
  }
  bg.output(std::move(bw_out));
  graph::verify(*p.forward);
  graph::verify(*p.backward);
  return p;
}

}  // namespace aotgrad::partition
