// Note [Cold tensors]: the optimizer's instructions (a multi-tensor loop, a batch of
// single-element ops) run after the backward has passed tens of megabytes through
// the caches, and read a hundred small tensors whose metadata (each TensorImpl's
// storage object and size list) and data sit out of cache, each in pages of their
// own. Read one tensor after another, the misses come one after another: convnet's
// AdamW loop spent 21 µs of its 74 gathering pointers and sizes (AMD Zen 4, one
// thread). Asking for every tensor's storage and sizes first lets the misses of all
// the tensors overlap: 8 µs. (Reading each input's first element, which only a
// single-value input needs, had cost 7 of those 21.) The batch of single-element
// ops also asks for every input's one value before it reads any.
#pragma once

#include <vector>

#include "aotgrad/ivalue.h"
#include "aotgrad/tensor.h"

namespace aotgrad::compile {

/// Starts loading the storage object and the size list of every tensor in `list`.
inline void prefetch_metadata(const std::vector<IValue>& list) {
  for (const IValue& a : list) {
    if (!a.is_tensor() || !a.to_tensor().defined()) continue;
    const TensorImpl* impl = a.to_tensor().impl();
    __builtin_prefetch(impl->storage.get());
    __builtin_prefetch(impl->sizes.data());
  }
}

/// Starts loading the first line of every tensor's data (after prefetch_metadata).
inline void prefetch_first_lines(const std::vector<IValue>& list) {
  for (const IValue& a : list)
    if (a.is_tensor() && a.to_tensor().defined() && a.to_tensor().impl()->storage != nullptr)
      __builtin_prefetch(a.to_tensor().raw_data());
}

}  // namespace aotgrad::compile
