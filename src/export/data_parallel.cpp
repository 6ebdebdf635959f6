// all_reduce_gradients: DDP's gradient averaging as ops (docs/DISTRIBUTED.md).
#include <numeric>

#include "aotgrad/annotate.h"
#include "aotgrad/ops.h"
#include "aotgrad/train_step.h"
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
}  // namespace

TensorList all_reduce_gradients(const TensorList& grads, const DataParallelOptions& options) {
  AG_CHECK(options.bucket_bytes > 0, "data parallel: the bucket size must be positive, got {} bytes",
           options.bucket_bytes);
  annotate scope(Annotations{{"train_step", std::string("gradient_all_reduce")}});
  const auto buckets = buckets_of(grads, options.bucket_bytes);
  // Every bucket's all_reduce is started before any is waited for.
  TensorList in_flight;
  for (const auto& bucket : buckets) {
    TensorList flat;
    for (size_t k : bucket) flat.push_back(reshape(grads[k], {-1}));
    in_flight.push_back(all_reduce(flat.size() == 1 ? flat[0] : cat(flat, 0), "avg", "0"));
  }
  TensorList out(grads.size());
  for (size_t b = 0; b < buckets.size(); ++b) {
    Tensor reduced = wait_tensor(in_flight[b]);
    IntList sizes;
    for (size_t k : buckets[b]) sizes.push_back(grads[k].numel());
    TensorList pieces = buckets[b].size() == 1 ? TensorList{reduced} : split_with_sizes(reduced, sizes, 0);
    for (size_t i = 0; i < buckets[b].size(); ++i) out[buckets[b][i]] = view(pieces[i], grads[buckets[b][i]].sizes());
  }
  return out;
}

}  // namespace aotgrad::exporting
