// The min-cut choice of saved values (the rematerialisation partitioner).
//
// Note [Saved values as a minimum cut]: make a flow network of the forward half.
// Every forward value v is an edge in(v) -> out(v) whose capacity is what saving v
// costs (its bytes; parameters, buffers and constants cost nothing, since they are
// held anyway). Data flow u -> v is an uncuttable edge out(u) -> in(v). The source
// feeds the graph inputs and every value that must not be recomputed (it is
// computed in the forward, so it can be saved but not re-derived); every value the
// backward reads drains into the sink. A cut separates the backward from the
// source, so the values on it are a set the backward can recompute everything it
// needs from; the minimum cut is the cheapest such set. Ops downstream of the cut
// that the backward needs are then recomputed there.
#include <algorithm>
#include <limits>
#include <queue>

#include "ops/registry.h"
#include "partition/partition_internal.h"

namespace aotgrad::partition::detail {

using graph::Node;
using graph::NodeOp;
using ops::OpId;

const char* level_name(RecomputeLevel level) {
  switch (level) {
    case RecomputeLevel::Cheap:
      return "cheap ops (pointwise, views, normalisations, size-keeping reductions)";
    case RecomputeLevel::Reductions:
      return "cheap ops, reductions and pools";
    case RecomputeLevel::Everything:
      return "every deterministic op";
  }
  return "";
}

namespace {
int64_t input_bytes(const Node* n) {
  int64_t total = 0;
  for (const Node* in : n->input_nodes()) total += tensor_bytes(in);
  return total;
}

constexpr int64_t kInfinite = std::numeric_limits<int64_t>::max() / 4;

// Dinic's maximum flow on a small dense-ish graph (a few thousand vertices at most).
class FlowNetwork {
 public:
  explicit FlowNetwork(int n) : adj_(static_cast<size_t>(n)) {}
  void add_edge(int from, int to, int64_t capacity) {
    adj_[from].push_back(static_cast<int>(edges_.size()));
    edges_.push_back({to, capacity});
    adj_[to].push_back(static_cast<int>(edges_.size()));
    edges_.push_back({from, 0});
  }
  void max_flow(int s, int t) {
    while (bfs(s, t)) {
      next_.assign(adj_.size(), 0);
      while (dfs(s, t, kInfinite) > 0) {
      }
    }
  }
  /// Vertices reachable from `s` in the residual graph (after max_flow).
  std::vector<bool> reachable(int s) {
    bfs(s, -1);
    std::vector<bool> r(adj_.size());
    for (size_t v = 0; v < adj_.size(); ++v) r[v] = level_[v] >= 0;
    return r;
  }

 private:
  struct Edge {
    int to;
    int64_t cap;
  };
  bool bfs(int s, int t) {
    level_.assign(adj_.size(), -1);
    std::queue<int> q;
    level_[s] = 0;
    q.push(s);
    while (!q.empty()) {
      int v = q.front();
      q.pop();
      for (int e : adj_[v]) {
        if (edges_[e].cap > 0 && level_[edges_[e].to] < 0) {
          level_[edges_[e].to] = level_[v] + 1;
          q.push(edges_[e].to);
        }
      }
    }
    return t >= 0 && level_[t] >= 0;
  }
  int64_t dfs(int v, int t, int64_t pushed) {
    if (v == t) return pushed;
    for (size_t& i = next_[v]; i < adj_[v].size(); ++i) {
      Edge& e = edges_[adj_[v][i]];
      if (e.cap <= 0 || level_[e.to] != level_[v] + 1) continue;
      int64_t got = dfs(e.to, t, std::min(pushed, e.cap));
      if (got > 0) {
        e.cap -= got;
        edges_[adj_[v][i] ^ 1].cap += got;
        return got;
      }
    }
    return 0;
  }
  std::vector<std::vector<int>> adj_;
  std::vector<Edge> edges_;
  std::vector<int> level_;
  std::vector<size_t> next_;
};

// What saving `n` costs in the network. Every value also costs one unit beyond its
// bytes, so that among cuts of equal size the one saving fewer values wins.
int64_t save_cost(const Node* n) {
  if (n->op() == NodeOp::GetAttr) return 0;
  if (n->op() == NodeOp::Placeholder) {
    const auto kind = n->meta.desc ? n->meta.desc->kind() : Descriptor::Kind::PlainInput;
    if (kind == Descriptor::Kind::ParamInput || kind == Descriptor::Kind::BufferInput) return 0;
    return 2 * tensor_bytes(n) + 1;
  }
  if (n->meta.val.kind != graph::FakeVal::Kind::Tensor) return kInfinite;  // tuples: save an element
  return 2 * tensor_bytes(n) + 1;
}
}  // namespace

std::string recompute_reason(const Node* n, RecomputeLevel level) {
  if (n->op() != NodeOp::CallFunction) return "";
  if (n->target().kind == graph::Target::Kind::GetItem) return "selects one result of a multi-output op";
  if (n->target().kind != graph::Target::Kind::Op) return "";
  const ops::OpInfo& op = *n->target().op;
  if (op.has(ops::OpTag::Random) || op.kind == ops::OpKind::InPlace) return "";
  if (op.kind == ops::OpKind::View) return "a view: recomputing it costs nothing";
  if (op.has(ops::OpTag::Pointwise)) return "pointwise: one cheap pass over its inputs";
  if (op.has(ops::OpTag::Factory)) return "a constant-filled tensor";
  if (op.has(ops::OpTag::Normalisation)) return "a normalisation: one pass over its input";
  if (op.has(ops::OpTag::Reduction)) {
    // A reduction that shrinks its input a lot is better saved than recomputed from
    // that input (PyTorch's partitioner draws the line at 4x).
    if (4 * tensor_bytes(n) >= input_bytes(n)) return "a reduction that keeps most of its input's size";
    if (level >= RecomputeLevel::Reductions) return "a reduction, allowed by the memory budget";
    return "";
  }
  if (op.has(ops::OpTag::Pool))
    return level >= RecomputeLevel::Reductions ? "a pool, allowed by the memory budget" : "";
  if (level >= RecomputeLevel::Everything) return "compute-heavy, but allowed by the memory budget";
  return "";
}

std::vector<const Node*> min_cut_saved(const JointView& view, RecomputeLevel level) {
  std::vector<const Node*> forward;
  std::unordered_map<const Node*, int> index;
  for (const auto& n : view.graph->nodes()) {
    if (n->op() == NodeOp::Output || view.backward.count(n.get())) continue;
    index[n.get()] = static_cast<int>(forward.size());
    forward.push_back(n.get());
  }
  const int count = static_cast<int>(forward.size());
  const int source = 2 * count, sink = 2 * count + 1;
  auto in = [](int i) { return 2 * i; };
  auto out = [](int i) { return 2 * i + 1; };
  FlowNetwork net(2 * count + 2);
  for (int i = 0; i < count; ++i) {
    const Node* n = forward[static_cast<size_t>(i)];
    net.add_edge(in(i), out(i), save_cost(n));
    if (n->op() != NodeOp::CallFunction || recompute_reason(n, level).empty()) net.add_edge(source, in(i), kInfinite);
    if (n->op() == NodeOp::CallFunction)
      for (const Node* u : n->input_nodes()) net.add_edge(out(index.at(u)), in(i), kInfinite);
  }
  for (const Node* r : view.required) net.add_edge(out(index.at(r)), sink, kInfinite);
  net.max_flow(source, sink);
  std::vector<bool> reach = net.reachable(source);
  std::vector<const Node*> saved;
  for (int i = 0; i < count; ++i)
    // get_attr nodes cost nothing to cut, but the backward reads them again itself.
    if (reach[static_cast<size_t>(in(i))] && !reach[static_cast<size_t>(out(i))] &&
        forward[static_cast<size_t>(i)]->op() != NodeOp::GetAttr)
      saved.push_back(forward[static_cast<size_t>(i)]);
  return saved;
}

}  // namespace aotgrad::partition::detail
