// Composite ops of the view family: their decompositions into table ops, run before
// autograd as PyTorch's CompositeImplicitAutograd kernels are (so their gradients
// come from the ops they decompose into).
#include "aotgrad/ops.h"
#include "ops/dispatch.h"
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

void register_view_composites(Registry& r) {
  r.decomposition(OpId::reshape, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    const SymShape sizes = infer_size(a[1].to_sym_int_list(), x.sym_sizes(), "reshape");
    if (view_strides(x.sizes(), x.strides(), hints_of(sizes))) return Outputs{view(x, sizes)};
    return Outputs{_unsafe_view(clone(x), sizes)};
  });
  r.decomposition(OpId::narrow, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    int64_t d = normalize_dim(a[1].to_int(), x.dim(), "narrow");
    int64_t start = a[2].to_int(), len = a[3].to_int();
    if (start < 0) start += x.sizes()[d];
    AG_CHECK(start >= 0 && len >= 0 && start + len <= x.sizes()[d],
             "narrow: start {} + length {} exceeds dim {} of size {}", start, len, d, x.sizes()[d]);
    return Outputs{slice(x, d, start, start + len)};
  });
  r.decomposition(OpId::chunk, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    int64_t chunks = a[1].to_int();
    AG_CHECK(chunks > 0, "chunk: expected chunks > 0, but got {}", chunks);
    int64_t d = normalize_dim(a[2].to_int(), x.dim(), "chunk");
    int64_t size = (x.sizes()[d] + chunks - 1) / chunks;
    return Outputs{IValue(split(x, std::max<int64_t>(size, 1), d))};
  });
  r.decomposition(OpId::flatten_using_ints, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    if (x.dim() == 0) return Outputs{reshape(x, {1})};
    int64_t s = normalize_dim(a[1].to_int(), x.dim(), "flatten", "start_dim");
    int64_t e = normalize_dim(a[2].to_int(), x.dim(), "flatten", "end_dim");
    AG_CHECK(s <= e, "flatten: start_dim {} must not come after end_dim {}", s, e);
    if (s == e) return Outputs{x};
    const SymShape in = x.sym_sizes();
    SymShape sizes(in.begin(), in.begin() + s);
    SymInt m(1);
    for (int64_t d = s; d <= e; ++d) m = m * in[static_cast<size_t>(d)];
    sizes.push_back(m);
    sizes.insert(sizes.end(), in.begin() + e + 1, in.end());
    return Outputs{reshape(x, sizes)};
  });
  r.decomposition(OpId::contiguous, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    return Outputs{x.is_contiguous() ? x : clone(x)};
  });
}

}  // namespace aotgrad::ops
