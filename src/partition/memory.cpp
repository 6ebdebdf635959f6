// Peak activation memory of a partition: replay the forward then the backward
// schedule, each tensor alive from the node that makes it to its last use.
#include <unordered_map>

#include "ops/registry.h"
#include "partition/partition_internal.h"

namespace aotgrad::partition {

using graph::Node;
using graph::NodeOp;

namespace {
int64_t value_bytes(const Node* n) {
  int64_t total = 0;
  for (const auto& item : n->meta.val.items)
    if (item) total += shape_numel(item->sizes) * static_cast<int64_t>(dtype_size(item->dtype));
  return total;
}

bool aliases_input(const Node* n) {
  if (n->op() != NodeOp::CallFunction) return false;
  if (n->target().kind == graph::Target::Kind::GetItem) return true;
  return n->target().kind == graph::Target::Kind::Op && n->target().op->kind != ops::OpKind::Compute;
}

// Runs one graph's schedule. `counted` says which placeholders hold activation bytes
// (the saved values entering the backward); graph outputs stay alive to the end.
// Returns the peak; `live` carries the bytes alive before and after.
int64_t replay(const graph::Graph& g, const std::unordered_map<const Node*, bool>& counted, int64_t& live) {
  // Storage owners: a view, getitem or in-place result keeps its input's storage alive.
  std::unordered_map<const Node*, const Node*> owner;
  std::unordered_map<const Node*, size_t> last_use;
  std::vector<const Node*> order;
  for (const auto& n : g.nodes()) {
    const Node* o = n.get();
    if (aliases_input(o) && !n->args().empty() && n->args()[0].is_node()) o = owner.at(n->args()[0].node());
    owner[n.get()] = o;
    order.push_back(n.get());
  }
  for (size_t i = 0; i < order.size(); ++i) {
    for (const Node* in : order[i]->input_nodes()) last_use[owner.at(in)] = i;
    if (order[i]->op() == NodeOp::Output) {
      for (const Node* in : order[i]->input_nodes()) last_use[owner.at(in)] = order.size();
    }
  }
  int64_t peak = live;
  std::unordered_map<size_t, std::vector<const Node*>> dies_after;
  for (const auto& [n, i] : last_use) dies_after[i].push_back(n);
  auto bytes_of = [&](const Node* n) -> int64_t {
    if (n->op() == NodeOp::Placeholder) {
      auto it = counted.find(n);
      return it != counted.end() && it->second ? value_bytes(n) : 0;
    }
    return n->op() == NodeOp::CallFunction ? value_bytes(n) : 0;
  };
  for (size_t i = 0; i < order.size(); ++i) {
    const Node* n = order[i];
    if (n->op() == NodeOp::CallFunction && owner.at(n) == n) live += bytes_of(n);
    peak = std::max(peak, live);
    if (!last_use.count(n) && owner.at(n) == n && n->op() == NodeOp::CallFunction) live -= bytes_of(n);
    for (const Node* d : dies_after[i]) live -= bytes_of(d);
  }
  return peak;
}
}  // namespace

int64_t peak_activation_bytes(const Partition& p) {
  int64_t live = 0;
  const int64_t fw_peak = replay(*p.forward->graph, {}, live);
  // Between the two: only the saved activations remain.
  live = p.saved_activation_bytes();
  std::unordered_map<const Node*, bool> counted;
  const auto placeholders = p.backward->graph->placeholders();
  for (size_t i = 0; i < placeholders.size(); ++i)
    counted[placeholders[i]] = i < p.saved.size() && !p.saved[i].is_primal;
  // Saved values are counted from the start of the backward (already in `live`), so
  // replay only subtracts them at their last use.
  const int64_t bw_peak = replay(*p.backward->graph, counted, live);
  return std::max(fw_peak, bw_peak);
}

}  // namespace aotgrad::partition
