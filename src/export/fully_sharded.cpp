// The fully-sharded pass's pieces (docs/DISTRIBUTED.md): parameter shards, the
// traced gather of a parameter and reduce-scatter of its gradient, and where they
// go in the graph (Note [FSDP phases]).
#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "aotgrad/annotate.h"
#include "aotgrad/autograd.h"
#include "aotgrad/ops.h"
#include "aotgrad/parallel.h"
#include "export/collective_schedule.h"
#include "support/error.h"

namespace aotgrad::exporting {

// Note [FSDP phases]
// Every node the pass adds for parameter k carries {"fsdp_param": k, "fsdp": what}:
// what is "gather" up to its all_gather_into_tensor and "gather_wait" from its
// wait_tensor on (the forward's gather), "regather"/"regather_wait" (the backward's
// own gather, reshard_after_forward), "reduce_scatter"/"reduce_scatter_wait" (the
// gradient). schedule_fully_sharded finds the groups by these annotations alone.

Shape shard_sizes(const Shape& sizes, int64_t world_size) {
  AG_CHECK(world_size >= 1, "fsdp: the world size must be 1 or more, got {}", world_size);
  Shape s = sizes.empty() ? Shape{1} : sizes;  // a 0-d tensor is sharded as [1]
  s[0] = (s[0] + world_size - 1) / world_size;
  return s;
}

namespace {
// `t` with zero rows appended up to `rows` along dim 0.
Tensor pad_rows(const Tensor& t, int64_t rows) {
  if (t.size(0) == rows) return t;
  Shape pad = t.sizes();
  pad[0] = rows - t.size(0);
  return cat({t, zeros(pad, t.dtype())}, 0);
}
}  // namespace

Tensor shard_of(const Tensor& full, int64_t rank, int64_t world_size) {
  AG_CHECK(rank >= 0 && rank < world_size, "fsdp: rank {} is not in a world of {}", rank, world_size);
  const Shape shard = shard_sizes(full.sizes(), world_size);
  Tensor flat = full.dim() == 0 ? reshape(full, {1}) : full;
  const int64_t begin = std::min(rank * shard[0], flat.size(0)), end = std::min(begin + shard[0], flat.size(0));
  return contiguous(pad_rows(slice(flat, 0, begin, end), shard[0]));
}

Tensor unshard(const Tensor& gathered, const Shape& sizes) {
  const int64_t rows = sizes.empty() ? 1 : sizes[0];
  AG_CHECK(gathered.dim() >= 1 && gathered.size(0) >= rows,
           "fsdp: {} cannot hold a tensor of {} rows gathered from its shards", gathered.describe(), rows);
  return reshape(slice(gathered, 0, 0, rows), sizes);
}

namespace {
Annotations phase(int64_t param, const char* what) {
  return {{"fsdp_param", param}, {"fsdp", std::string(what)}};
}
}  // namespace

Tensor gather_parameter(const Tensor& shard, const Shape& sizes, int64_t index, bool requires_grad,
                        const FullyShardedOptions& options) {
  autograd::NoGradGuard no_grad;
  Tensor gathered;
  {
    annotate scope(phase(index, "gather"));
    gathered = all_gather_into_tensor(shard, options.world_size, "0");
  }
  annotate scope(phase(index, "gather_wait"));
  Tensor full = wait_tensor(gathered);
  const int64_t rows = sizes.empty() ? 1 : sizes[0];
  if (full.size(0) != rows) full = slice(full, 0, 0, rows);
  if (sizes.empty()) full = view(full, {});
  full.set_requires_grad(requires_grad);
  return full;
}

Tensor reduce_scatter_gradient(const Tensor& grad, int64_t index, const FullyShardedOptions& options) {
  Tensor started;
  {
    annotate scope(phase(index, "reduce_scatter"));
    const int64_t padded = shard_sizes(grad.sizes(), options.world_size)[0] * options.world_size;
    started = reduce_scatter_tensor(pad_rows(grad.dim() == 0 ? view(grad, {1}) : grad, padded), "avg",
                                    options.world_size, "0");
  }
  annotate scope(phase(index, "reduce_scatter_wait"));
  return wait_tensor(started);
}

// ---- where the pieces go ----

namespace {
using detail::CollectiveGroup;
using graph::Node;

// The fsdp annotation of n, with its parameter index, or null.
const std::string* phase_of(const Node* n, int64_t& param) {
  return detail::collective_phase(*n, "fsdp_param", "fsdp", param);
}

void annotate_phase(Node* n, int64_t param, const char* what) {
  bool found = false;
  for (auto& [k, v] : n->meta.custom)
    if (k == "fsdp") {
      v = std::string(what);
      found = true;
    }
  if (!found) {
    n->meta.custom.emplace_back("fsdp_param", param);
    n->meta.custom.emplace_back("fsdp", std::string(what));
  }
}

// A gathered parameter as the forward reads it: its gather chain, then the forward's
// views of it (a Linear's weight.t()), which the backward reads too.
std::vector<Node*> gathered_region(const std::vector<Node*>& chain) {
  std::vector<Node*> region = chain;
  std::unordered_set<const Node*> in(chain.begin(), chain.end());
  for (size_t i = chain.size() - 1; i < region.size(); ++i)
    for (Node* u : region[i]->users())
      if (!u->meta.is_backward && detail::is_view_node(*u) && !in.count(u)) {
        bool only_region_inputs = true;
        for (const Node* x : u->input_nodes()) only_region_inputs = only_region_inputs && in.count(x) > 0;
        if (!only_region_inputs) continue;
        region.push_back(u);
        in.insert(u);
      }
  return region;
}

// reshard_after_forward: the backward reads a gather (and views) of its own, so the
// forward's copy dies after the forward's last reader.
void regather_for_backward(graph::Graph& g) {
  std::map<int64_t, std::vector<Node*>> chains;
  for (const auto& n : g.nodes()) {
    int64_t k = -1;
    const std::string* what = phase_of(n.get(), k);
    if (what != nullptr && (*what == "gather" || *what == "gather_wait")) chains[k].push_back(n.get());
  }
  for (auto& [k, chain] : chains) {
    const std::vector<Node*> region = gathered_region(chain);
    const std::unordered_set<const Node*> in(region.begin(), region.end());
    // The region's nodes the backward reads, and what they read in it.
    std::unordered_set<const Node*> needed;
    for (auto it = region.rbegin(); it != region.rend(); ++it) {
      bool read = needed.count(*it) > 0;
      for (const Node* u : (*it)->users()) read = read || (u->meta.is_backward && !in.count(u));
      if (!read) continue;
      needed.insert(*it);
      for (const Node* x : (*it)->input_nodes()) needed.insert(x);
    }
    if (needed.empty()) continue;
    std::unordered_map<const Node*, Node*> map;
    for (Node* p : chain.front()->input_nodes()) map[p] = p;
    for (Node* n : region) {
      if (!needed.count(n)) continue;
      Node* c = graph::copy_node(g, *n, map);
      c->meta.is_backward = true;
      annotate_phase(c, k, n == chain.front() ? "regather" : "regather_wait");
    }
    for (Node* n : region) {
      if (!needed.count(n)) continue;
      const std::vector<Node*> users = n->users();
      for (Node* u : users) {
        if (!u->meta.is_backward || in.count(u)) continue;
        graph::Arg::List args = u->args();
        auto swap = [&](Node*& x) { x = in.count(x) ? map.at(x) : x; };
        for (auto& a : args) a.for_each_node(swap);
        graph::Kwargs kwargs = u->kwargs();
        for (auto& [name, a] : kwargs) a.for_each_node(swap);
        u->set_args(std::move(args), std::move(kwargs));
      }
    }
    // What only the backward read is gone from the forward (a gather nobody waits
    // for would still run).
    for (auto it = region.rbegin(); it != region.rend(); ++it)
      if ((*it)->users().empty()) g.erase(*it);
  }
}
}  // namespace

void schedule_fully_sharded(graph::Graph& g, const FullyShardedOptions& options) {
  if (options.reshard_after_forward) regather_for_backward(g);
  std::map<int64_t, CollectiveGroup> gathers, regathers, scatters;
  std::vector<Node*> rest;
  for (const auto& n : g.nodes()) {
    int64_t k = -1;
    const std::string* what = phase_of(n.get(), k);
    if (what == nullptr) {
      rest.push_back(n.get());
      continue;
    }
    auto& groups = what->rfind("gather", 0) == 0 ? gathers : what->rfind("regather", 0) == 0 ? regathers : scatters;
    const bool wait = what->size() > 5 && what->compare(what->size() - 5, 5, "_wait") == 0;
    (wait ? groups[k].wait : groups[k].issue).push_back(n.get());
  }
  if (gathers.empty() && scatters.empty()) return;
  auto values = [](std::map<int64_t, CollectiveGroup>& m) {
    std::vector<CollectiveGroup> v;
    for (auto& [k, group] : m) v.push_back(std::move(group));
    return v;
  };
  // Gradients: reduce-scattered as soon as made, waited for before the next one
  // starts (each keeps its whole gradient alive until then).
  detail::place_issue_after_inputs_and_wait_before_next_issue(rest, values(scatters));
  // Parameters: each gather started while the previous parameter is in use.
  detail::place_prefetched(rest, values(gathers), /*first_issue_before=*/nullptr);
  Node* first_backward = nullptr;
  for (Node* n : rest)
    if (n->meta.is_backward && first_backward == nullptr) first_backward = n;
  detail::place_prefetched(rest, values(regathers), first_backward);
  g.reorder(rest);
}

}  // namespace aotgrad::exporting
