// The fully-sharded pass's pieces (docs/DISTRIBUTED.md): parameter shards, the
// traced gather of a parameter and reduce-scatter of its gradient, and where they
// go in the graph (Note [FSDP phases]).
#include <algorithm>
#include <map>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "aotgrad/annotate.h"
#include "aotgrad/autograd.h"
#include "aotgrad/ops.h"
#include "aotgrad/parallel.h"
#include "export/collective_schedule.h"
#include "export/sharded_params.h"
#include "support/error.h"

namespace aotgrad::exporting {

// Note [FSDP phases]
// Every node the pass adds for group k (Note [FSDP groups]) carries {"fsdp_group": k,
// "fsdp": what}: what is "gather" up to its all_gather_into_tensor and "gather_wait"
// from its wait_tensor on (the forward's gather), "regather"/"regather_wait" (the
// backward's own gather, reshard_after_forward), "reduce_scatter"/"reduce_scatter_wait"
// (the gradients). schedule_fully_sharded finds the groups by these annotations alone.

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

// Note [FSDP groups]
// Each collective costs a rendezvous of every rank besides its bytes: on 2 ranks of
// one machine, a gather of a LayerNorm's 128 weights took as long as one of a
// 128x128 matrix, and transformer_block's 46 collectives per step (one per
// parameter, and again for the backward) cost 1.1-3 ms of its 9-11. So parameters
// are gathered, and their gradients reduce-scattered, in groups, as FSDP2 does for
// each module it wraps: a group's shards are laid end to end ([S] per rank), one
// all_gather_into_tensor makes [N, S] (rank r's part in row r), and each
// parameter's whole is its columns of every row, in rank order, which is its
// padded tensor (a copy, since the columns are strided). Gradients go the other
// way: each padded gradient, seen as [N, n] (rank r's rows in row r), is laid
// beside the others ([N, S]), reduce-scattered to this rank's [S] and split into
// the shards. A group is a module's own parameters (a Linear's weight and bias),
// and a group under min_group_bytes (256 KiB) takes in the next module's too: below
// that a collective costs its latency rather than its bytes, and the gathered
// memory stays at about two groups (the one in use and the one prefetched).
// ShardGroups::Parameter keeps one collective per parameter. A group of one is the
// graph it always was: the gathered rows are the parameter, with no copy out. So a
// parameter of own_group_bytes (256 KiB) or more is a group of its own, and the
// small ones around it (its module's bias) group with the next small ones: for
// mlp_large, whose 3 and 4 MiB weights were each copied out of their group (and their
// gradients copied in) for the sake of a 4 KiB bias, that took 2 ranks x 1 thread
// from 0.86-0.88 to 0.91-0.92 of one process's speed in a quiet spell, and from
// 0.79-0.80 to 0.81-0.82 while the transport itself was slow (Zen 4, A/B runs).
std::vector<std::vector<size_t>> shard_groups(const std::vector<ShardedParam>& params,
                                              const FullyShardedOptions& options) {
  auto module_of = [](const std::string& fqn) {
    const size_t dot = fqn.rfind('.');
    return dot == std::string::npos ? std::string() : fqn.substr(0, dot);
  };
  std::vector<std::vector<size_t>> groups;
  std::optional<size_t> open;  // the group small parameters join
  int64_t bytes = 0;           // its bytes
  for (size_t i = 0; i < params.size(); ++i) {
    if (options.groups == ShardGroups::Parameter || params[i].bytes >= options.own_group_bytes) {
      groups.push_back({i});  // alone: gathered straight into its own tensor
      continue;
    }
    const ShardedParam* last = open ? &params[groups[*open].back()] : nullptr;
    const bool joins = last != nullptr && params[i].dtype == last->dtype &&
                       (module_of(params[i].fqn) == module_of(last->fqn) || bytes < options.min_group_bytes);
    if (!joins) {
      open = groups.size();
      groups.emplace_back();
      bytes = 0;
    }
    groups[*open].push_back(i);
    bytes += params[i].bytes;
  }
  return groups;
}

namespace {
Annotations phase(int64_t group, const char* what) {
  return {{"fsdp_group", group}, {"fsdp", std::string(what)}};
}

// The whole (unpadded) parameter of `sizes` from its padded gathered rows.
Tensor unpadded(Tensor full, const Shape& sizes) {
  const int64_t rows = sizes.empty() ? 1 : sizes[0];
  if (full.size(0) != rows) full = slice(full, 0, 0, rows);
  return sizes.empty() ? view(full, {}) : full;
}
}  // namespace

TensorList gather_parameters(const TensorList& shards, const std::vector<Shape>& sizes,
                             const std::vector<bool>& requires_grad, int64_t group,
                             const FullyShardedOptions& options) {
  AG_CHECK(!shards.empty() && shards.size() == sizes.size() && shards.size() == requires_grad.size(),
           "fsdp: a group of {} shards, {} sizes and {} requires_grad flags", shards.size(), sizes.size(),
           requires_grad.size());
  autograd::NoGradGuard no_grad;
  const int64_t n = options.world_size;
  Tensor gathered;
  {
    annotate scope(phase(group, "gather"));
    TensorList flat;
    for (const Tensor& s : shards) flat.push_back(reshape(s, {-1}));
    gathered = all_gather_into_tensor(shards.size() == 1 ? shards[0] : cat(flat, 0), n, "0");
  }
  annotate scope(phase(group, "gather_wait"));
  Tensor all = wait_tensor(gathered);
  TensorList out;
  if (shards.size() == 1) {
    out.push_back(unpadded(all, sizes[0]));
  } else {
    const Tensor rows = view(all, {n, all.numel() / n});  // rank r's shards in row r
    int64_t at = 0;
    for (size_t k = 0; k < shards.size(); ++k) {
      const int64_t len = shards[k].numel();
      Shape padded = shards[k].sizes();
      padded[0] *= n;
      out.push_back(unpadded(reshape(slice(rows, 1, at, at + len), padded), sizes[k]));
      at += len;
    }
  }
  for (size_t k = 0; k < out.size(); ++k) out[k].set_requires_grad(requires_grad[k]);
  return out;
}

TensorList reduce_scatter_gradients(const TensorList& grads, int64_t group, const FullyShardedOptions& options) {
  AG_CHECK(!grads.empty(), "fsdp: a group with no gradients");
  const int64_t n = options.world_size;
  std::vector<Shape> shard;
  Tensor started;
  {
    annotate scope(phase(group, "reduce_scatter"));
    TensorList parts;  // each padded gradient as [N, its shard's elements]
    for (const Tensor& g : grads) {
      shard.push_back(shard_sizes(g.sizes(), n));
      const Tensor padded = pad_rows(g.dim() == 0 ? view(g, {1}) : g, shard.back()[0] * n);
      parts.push_back(grads.size() == 1 ? padded : reshape(padded, {n, -1}));
    }
    Tensor laid = grads.size() == 1 ? parts[0] : reshape(cat(parts, 1), {-1});
    started = reduce_scatter_tensor(laid, "avg", n, "0");
  }
  annotate scope(phase(group, "reduce_scatter_wait"));
  Tensor mine = wait_tensor(started);
  if (grads.size() == 1) return {mine};
  IntList lengths;
  for (const Shape& s : shard) lengths.push_back(shape_numel(s));
  TensorList pieces = split_with_sizes(mine, lengths, 0), out;
  for (size_t k = 0; k < pieces.size(); ++k) out.push_back(view(pieces[k], shard[k]));
  return out;
}

namespace detail {
namespace {
std::vector<std::vector<size_t>> groups_of(const std::vector<ForwardSource::Named>& params,
                                           const FullyShardedOptions& options) {
  std::vector<ShardedParam> described;
  for (const auto& p : params)
    described.push_back({p.fqn, p.example.numel() * dtype_size(p.example.dtype()), p.example.dtype()});
  return shard_groups(described, options);
}
}  // namespace

TensorList gather_sharded(const TensorList& shards, const std::vector<ForwardSource::Named>& params,
                          const FullyShardedOptions& options) {
  AG_INTERNAL_CHECK(shards.size() == params.size(), "fsdp: {} shards for {} parameters", shards.size(), params.size());
  TensorList whole(params.size());
  const auto groups = groups_of(params, options);
  for (size_t g = 0; g < groups.size(); ++g) {
    TensorList mine;
    std::vector<Shape> sizes;
    std::vector<bool> requires_grad;
    for (size_t i : groups[g]) {
      mine.push_back(shards[i]);
      sizes.push_back(params[i].example.sizes());
      requires_grad.push_back(params[i].requires_grad);
    }
    TensorList got = gather_parameters(mine, sizes, requires_grad, static_cast<int64_t>(g), options);
    for (size_t k = 0; k < groups[g].size(); ++k) whole[groups[g][k]] = got[k];
  }
  return whole;
}

TensorList reduce_scatter_sharded(const TensorList& grads, const std::vector<ForwardSource::Named>& params,
                                  const FullyShardedOptions& options) {
  AG_INTERNAL_CHECK(grads.size() == params.size(), "fsdp: {} gradients for {} parameters", grads.size(), params.size());
  autograd::NoGradGuard no_grad;
  TensorList shards(grads.size());
  const auto groups = groups_of(params, options);
  for (size_t g = 0; g < groups.size(); ++g) {
    TensorList defined;
    std::vector<size_t> at;
    for (size_t i : groups[g])
      if (grads[i].defined()) {
        defined.push_back(grads[i]);
        at.push_back(i);
      }
    if (defined.empty()) continue;
    TensorList got = reduce_scatter_gradients(defined, static_cast<int64_t>(g), options);
    for (size_t k = 0; k < at.size(); ++k) shards[at[k]] = got[k];
  }
  return shards;
}
}  // namespace detail

// ---- where the pieces go ----

namespace {
using detail::CollectiveGroup;
using graph::Node;

// The fsdp annotation of n, with its parameter index, or null.
const std::string* phase_of(const Node* n, int64_t& group) {
  return detail::collective_phase(*n, "fsdp_group", "fsdp", group);
}

void annotate_phase(Node* n, int64_t group, const char* what) {
  bool found = false;
  for (auto& [k, v] : n->meta.custom)
    if (k == "fsdp") {
      v = std::string(what);
      found = true;
    }
  if (!found) {
    n->meta.custom.emplace_back("fsdp_group", group);
    n->meta.custom.emplace_back("fsdp", std::string(what));
  }
}

// A gathered group as the forward reads it: its gather chain, then the forward's
// views of its parameters (a Linear's weight.t()), which the backward reads too.
std::vector<Node*> gathered_region(const std::vector<Node*>& chain) {
  std::vector<Node*> region = chain;
  std::unordered_set<const Node*> in(chain.begin(), chain.end());
  for (size_t i = 0; i < region.size(); ++i)
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
    std::unordered_map<const Node*, Node*> map;  // what the copies read: the region's copies, or the same shards
    for (Node* n : region)
      for (Node* x : n->input_nodes())
        if (!in.count(x)) map[x] = x;
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
