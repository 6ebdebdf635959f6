// Derivatives of the view family, and the composite view ops' decompositions.
#include "aotgrad/ops.h"
#include "ops/dispatch.h"
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

namespace {
using G = std::vector<Tensor>;

// Gradients of a split: undefined pieces become zeros, then the pieces are joined.
Tensor split_backward(const BackwardContext& c, int64_t dim) {
  TensorList parts;
  for (size_t i = 0; i < c.grads.size(); ++i) {
    if (c.grads[i].defined())
      parts.push_back(c.grads[i]);
    else
      parts.push_back(new_zeros(c.outs[i], c.outs[i].sym_sizes()));
  }
  return cat(parts, dim);
}

// Scatter-adds the gradient back through the strided map. Only views of a contiguous
// input are supported: each output element then names one input element.
G as_strided_backward(const BackwardContext& c) {
  const Tensor& x = c.in(0);
  AG_CHECK(x.is_contiguous(), "as_strided backward: only a contiguous input is supported, but got {} with strides {}",
           x.describe(), shape_str(x.strides()));
  // The view's geometry is in the arguments (the result itself is not saved).
  const IntList &sizes = c.args[1].to_int_list(), &strides = c.args[2].to_int_list();
  const int64_t base = c.args[3].is_none() ? 0 : c.args[3].to_int() - x.storage_offset();
  std::vector<int64_t> idx;
  for_each_offset(sizes, strides, [&](int64_t o) { idx.push_back(base + o); });
  Tensor index_t = Tensor::from_vector<int64_t>(idx, {static_cast<int64_t>(idx.size())});
  Tensor flat = new_zeros(c.grad(), {x.numel()});
  flat = index_put(flat, {index_t}, reshape(c.grad(), {-1}), true);
  return G{view(flat, x.sizes())};
}
}  // namespace

/// Reduces `g` to `shape` by summing broadcast dims (at::sum_to).
Tensor sum_to(const Tensor& g, const SymShape& shape) {
  if (g.sizes() == hints_of(shape)) return g;
  const int64_t lead = g.dim() - static_cast<int64_t>(shape.size());
  IntList dims;
  for (int64_t i = 0; i < lead; ++i) dims.push_back(i);
  for (int64_t i = lead; i < g.dim(); ++i)
    if (shape[i - lead].hint == 1 && g.sizes()[i] != 1) dims.push_back(i);
  Tensor r = g;
  if (!dims.empty()) r = sum(r, dims, true);
  return lead > 0 ? view(r, shape) : r;
}

void register_view_kernels(Registry&) {}  // views alias their input; see run_kernel

void register_view_derivatives(Registry& r) {
  auto reshape_back = [](const BackwardContext& c) { return G{reshape(c.grad(), c.in(0).sym_sizes())}; };
  r.derivative(OpId::view, reshape_back);
  r.derivative(OpId::_unsafe_view, reshape_back);
  r.derivative(OpId::t, [](const BackwardContext& c) { return G{t(c.grad())}; });
  r.derivative(OpId::transpose_int,
               [](const BackwardContext& c) { return G{transpose(c.grad(), c.args[1].to_int(), c.args[2].to_int())}; });
  r.derivative(OpId::permute, [](const BackwardContext& c) {
    const IntList& dims = c.args[1].to_int_list();
    IntList inv(dims.size());
    for (size_t i = 0; i < dims.size(); ++i)
      inv[normalize_dim(dims[i], static_cast<int64_t>(dims.size()), "permute")] = static_cast<int64_t>(i);
    return G{permute(c.grad(), inv)};
  });
  r.derivative(OpId::expand, [](const BackwardContext& c) { return G{sum_to(c.grad(), c.in(0).sym_sizes())}; });
  r.derivative(OpId::unsqueeze, [](const BackwardContext& c) { return G{squeeze(c.grad(), c.args[1].to_int())}; });
  r.derivative(OpId::squeeze_dim, [](const BackwardContext& c) {
    const Tensor& x = c.in(0);
    if (x.dim() == 0) return G{c.grad()};
    int64_t d = normalize_dim(c.args[1].to_int(), x.dim(), "squeeze");
    return G{x.sizes()[d] == 1 ? unsqueeze(c.grad(), d) : c.grad()};
  });
  r.derivative(OpId::squeeze, [](const BackwardContext& c) {
    Tensor g = c.grad();
    for (int64_t d = 0; d < c.in(0).dim(); ++d)
      if (c.in(0).sizes()[d] == 1) g = unsqueeze(g, d);
    return G{g};
  });
  r.derivative(OpId::slice_Tensor, [](const BackwardContext& c) {
    const Tensor& x = c.in(0);
    int64_t d = normalize_dim(c.args[1].to_int(), x.dim(), "slice");
    const SymInt start = c.args[2].is_none() ? SymInt(0) : c.args[2].to_sym_int();
    const SymInt end = c.args[3].is_none() ? SymInt(INT64_MAX) : c.args[3].to_sym_int();
    return G{slice_backward(c.grad(), x.sym_sizes(), d, start, end, c.args[4].to_int())};
  });
  r.derivative(OpId::select_int, [](const BackwardContext& c) {
    return G{select_backward(c.grad(), c.in(0).sym_sizes(), c.args[1].to_int(), c.args[2].to_int())};
  });
  r.derivative(OpId::as_strided, as_strided_backward);
  r.derivative(OpId::alias, [](const BackwardContext& c) { return G{c.grad()}; });
  r.not_differentiable(OpId::detach);
  r.derivative(OpId::split_Tensor, [](const BackwardContext& c) {
    return G{split_backward(c, normalize_dim(c.args[2].to_int(), c.in(0).dim(), "split"))};
  });
  r.derivative(OpId::split_with_sizes, [](const BackwardContext& c) {
    return G{split_backward(c, normalize_dim(c.args[2].to_int(), c.in(0).dim(), "split"))};
  });
}

}  // namespace aotgrad::ops
