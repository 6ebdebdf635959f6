// The default partition: a node is backward if it depends on a tangent; forward
// nodes the backward reads become saved values.
#include "aotgrad/partition.h"

#include <unordered_map>
#include <unordered_set>

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

namespace {
bool is_tangent(const Node* n) {
  return n->op() == NodeOp::Placeholder && n->meta.desc &&
         n->meta.desc->kind() == Descriptor::Kind::TangentInput;
}

int64_t bytes_of(const Node* n) {
  if (n->meta.val.kind != graph::FakeVal::Kind::Tensor) return 0;
  const graph::TensorVal& v = n->meta.val.as_tensor();
  return shape_numel(v.sizes) * static_cast<int64_t>(dtype_size(v.dtype));
}

// Copies `n` into `g`, its node arguments mapped through `map`.
Node* copy_node(graph::Graph& g, const Node& n, std::unordered_map<const Node*, Node*>& map) {
  auto remap = [&](Arg a) {
    a.for_each_node([&](Node*& x) { x = map.at(x); });
    return a;
  };
  Arg::List args;
  for (const Arg& a : n.args()) args.push_back(remap(a));
  graph::Kwargs kwargs;
  for (const auto& [k, a] : n.kwargs()) kwargs.emplace_back(k, remap(a));
  Node* c = g.create_node(n.op(), n.name(), n.target(), std::move(args), std::move(kwargs));
  c->meta = n.meta;
  map[&n] = c;
  return c;
}

// The split graphs carry no descriptors: their calling convention (primals in;
// forward outputs then saved values out; saved values and tangents in, gradients out)
// is Partition's, and saved values have no descriptor kind of their own.
void copy_placeholder(graph::Graph& g, const Node& p, std::unordered_map<const Node*, Node*>& map) {
  Node* c = g.placeholder(p.name());
  c->meta = p.meta;
  c->meta.desc.reset();
  map[&p] = c;
}
}  // namespace

Partition partition_joint(const graph::GraphModule& joint) {
  const graph::Graph& jg = *joint.graph;
  const Node* out = jg.output_node();
  AG_CHECK(out != nullptr && !out->meta.out_descs.empty(),
           "partition: the graph has no output descriptors (it was not made by a joint export)");
  const Arg::List& values = out->args()[0].list();

  // Backward = depends on a tangent.
  std::unordered_set<const Node*> backward;
  for (const auto& n : jg.nodes()) {
    if (is_tangent(n.get())) backward.insert(n.get());
    if (n->op() != NodeOp::CallFunction) continue;
    for (Node* in : n->input_nodes())
      if (backward.count(in)) backward.insert(n.get());
  }
  // Values the backward graph reads that the forward computes: the saved values.
  // Gradients that need no tangent (a constant zero, say) are saved too.
  std::vector<const Node*> saved;
  std::unordered_set<const Node*> saved_set;
  auto save = [&](const Node* n) {
    // Constants are read again by the backward's own get_attr, not saved.
    if (n->op() == NodeOp::GetAttr || backward.count(n)) return;
    if (saved_set.insert(n).second) saved.push_back(n);
  };
  for (const auto& n : jg.nodes())
    if (n->op() == NodeOp::CallFunction && backward.count(n.get()))
      for (Node* in : n->input_nodes()) save(in);
  Partition p;
  for (size_t i = 0; i < values.size(); ++i) {
    const auto& d = out->meta.out_descs[i];
    if (d && d->kind() == Descriptor::Kind::GradOutput && values[i].is_node()) save(values[i].node());
  }

  // The forward graph: primals in, forward outputs and saved values out.
  p.forward = std::make_shared<graph::GraphModule>();
  p.forward->name = "fw_graph";
  p.forward->constants = joint.constants;
  std::unordered_map<const Node*, Node*> fmap;
  for (const auto& n : jg.nodes()) {
    if (n->op() == NodeOp::Output || backward.count(n.get())) continue;
    if (n->op() == NodeOp::Placeholder) copy_placeholder(*p.forward->graph, *n, fmap);
    else copy_node(*p.forward->graph, *n, fmap);
  }
  Arg::List fw_out;
  for (size_t i = 0; i < values.size(); ++i) {
    const auto& d = out->meta.out_descs[i];
    if (!d || d->kind() == Descriptor::Kind::GradOutput) continue;
    AG_CHECK(values[i].is_node() && !backward.count(values[i].node()),
             "partition: forward output {} depends on a tangent", d->str());
    fw_out.emplace_back(fmap.at(values[i].node()));
  }
  p.num_forward_outputs = static_cast<int64_t>(fw_out.size());
  for (const Node* s : saved) {
    fw_out.emplace_back(fmap.at(s));
    p.saved.push_back({s->name(), s->meta.val.kind == graph::FakeVal::Kind::Tensor ? s->meta.val.as_tensor().str() : "",
                       bytes_of(s)});
  }
  p.forward->graph->output(std::move(fw_out));

  // The backward graph: saved values and tangents in, the gradients out.
  p.backward = std::make_shared<graph::GraphModule>();
  p.backward->name = "bw_graph";
  p.backward->constants = joint.constants;
  std::unordered_map<const Node*, Node*> bmap;
  for (const Node* s : saved) {
    Node* c = p.backward->graph->placeholder(s->name());
    c->meta.val = s->meta.val;
    bmap[s] = c;
  }
  for (const auto& n : jg.nodes()) {
    if (is_tangent(n.get())) copy_placeholder(*p.backward->graph, *n, bmap);
  }
  for (const auto& n : jg.nodes()) {
    if (n->op() == NodeOp::CallFunction && backward.count(n.get())) {
      copy_node(*p.backward->graph, *n, bmap);
    } else if (n->op() == NodeOp::GetAttr) {
      bool used = false;
      for (const Node* u : n->users()) used = used || backward.count(u);
      if (used) copy_node(*p.backward->graph, *n, bmap);
    }
  }
  Arg::List bw_out;
  for (size_t i = 0; i < values.size(); ++i) {
    const auto& d = out->meta.out_descs[i];
    if (d && d->kind() != Descriptor::Kind::GradOutput) continue;
    bw_out.push_back(values[i].is_node() ? Arg(bmap.at(values[i].node())) : Arg());
  }
  p.backward->graph->output(std::move(bw_out));
  graph::verify(*p.forward);
  graph::verify(*p.backward);
  return p;
}

}  // namespace aotgrad::partition
