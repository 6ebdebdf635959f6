// all_reduce_gradients and schedule_gradient_buckets: DDP's gradient averaging as
// ops, and its place in the graph (docs/DISTRIBUTED.md).
#include <map>

#include "aotgrad/annotate.h"
#include "aotgrad/ops.h"
#include "aotgrad/train_step.h"
#include "export/collective_schedule.h"
#include "support/error.h"

namespace aotgrad::exporting {

namespace {
// Indices into grads, one list per bucket: last gradient first, a bucket closed once
// it holds `bucket_bytes` (a gradient larger than that is a bucket of its own).
std::vector<std::vector<size_t>> buckets_of(const TensorList& grads, int64_t bucket_bytes) {
  std::vector<std::vector<size_t>> buckets;
  int64_t filled = 0;
  for (size_t k = grads.size(); k-- > 0;) {
    const int64_t bytes = grads[k].numel() * dtype_size(grads[k].dtype());
    const bool same_dtype = !buckets.empty() && grads[buckets.back().front()].dtype() == grads[k].dtype();
    if (buckets.empty() || filled >= bucket_bytes || !same_dtype) {
      buckets.emplace_back();
      filled = 0;
    }
    buckets.back().push_back(k);
    filled += bytes;
  }
  return buckets;
}

// Note [Bucket phases]: the nodes of bucket b are annotated {"ddp_bucket": b,
// "ddp": "issue"} up to its all_reduce and {"ddp_bucket": b, "ddp": "wait"} from its
// wait_tensor on, which is how schedule_gradient_buckets finds and moves them.
Annotations phase(size_t bucket, const char* what) {
  return {{"ddp_bucket", static_cast<int64_t>(bucket)}, {"ddp", std::string(what)}};
}
}  // namespace

TensorList all_reduce_gradients(const TensorList& grads, const DataParallelOptions& options) {
  AG_CHECK(options.bucket_bytes > 0, "data parallel: the bucket size must be positive, got {} bytes",
           options.bucket_bytes);
  const auto buckets = buckets_of(grads, options.bucket_bytes);
  // Every bucket's all_reduce is started before any is waited for.
  TensorList in_flight;
  for (size_t b = 0; b < buckets.size(); ++b) {
    annotate scope(phase(b, "issue"));
    TensorList flat;
    for (size_t k : buckets[b]) flat.push_back(reshape(grads[k], {-1}));
    in_flight.push_back(all_reduce(flat.size() == 1 ? flat[0] : cat(flat, 0), "avg", "0"));
  }
  TensorList out(grads.size());
  for (size_t b = 0; b < buckets.size(); ++b) {
    annotate scope(phase(b, "wait"));
    Tensor reduced = wait_tensor(in_flight[b]);
    IntList sizes;
    for (size_t k : buckets[b]) sizes.push_back(grads[k].numel());
    TensorList pieces = buckets[b].size() == 1 ? TensorList{reduced} : split_with_sizes(reduced, sizes, 0);
    for (size_t i = 0; i < buckets[b].size(); ++i) out[buckets[b][i]] = view(pieces[i], grads[buckets[b][i]].sizes());
  }
  return out;
}

void schedule_gradient_buckets(graph::Graph& g) {
  using graph::Node;
  std::map<int64_t, detail::CollectiveGroup> buckets;
  std::vector<Node*> rest;
  for (const auto& n : g.nodes()) {
    int64_t b = -1;
    const std::string* what = detail::collective_phase(*n, "ddp_bucket", "ddp", b);
    if (what == nullptr)
      rest.push_back(n.get());
    else
      (*what == "issue" ? buckets[b].issue : buckets[b].wait).push_back(n.get());
  }
  if (buckets.empty()) return;
  std::vector<detail::CollectiveGroup> groups;
  for (auto& [b, group] : buckets) groups.push_back(std::move(group));
  // A bucket starts right after its last gradient and is waited for right before the
  // first node that reads the averaged gradients.
  detail::place_issue_after_inputs_and_wait_before_readers(rest, groups);
  g.reorder(rest);
}

}  // namespace aotgrad::exporting
