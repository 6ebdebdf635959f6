// Composite ops of the linalg family: their decompositions into table ops, run before
// autograd as PyTorch's CompositeImplicitAutograd kernels are (so their gradients
// come from the ops they decompose into).
#include "aotgrad/ops.h"
#include "ops/dispatch.h"
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

namespace {
// matmul's batch dims broadcast (the expand that follows checks them).
SymShape broadcast_batch(const SymShape& a, const SymShape& b) {
  const Shape values = broadcast_shapes(hints_of(a), hints_of(b), "matmul");
  SymShape out;
  for (size_t i = 0; i < values.size(); ++i) {
    const size_t from_end = values.size() - i;
    const SymInt* x = from_end <= a.size() ? &a[a.size() - from_end] : nullptr;
    const SymInt* y = from_end <= b.size() ? &b[b.size() - from_end] : nullptr;
    out.push_back(x != nullptr && x->hint == values[i] ? *x : *y);
  }
  return out;
}

// matmul by the rank of its operands, as at::matmul folds and broadcasts them.
Outputs matmul_decomposition(const Args& a) {
  const Tensor &x = a[0].to_tensor(), &y = a[1].to_tensor();
  const int64_t dx = x.dim(), dy = y.dim();
  AG_CHECK(dx > 0 && dy > 0, "matmul: both arguments need at least 1 dim, but got {} and {}", x.describe(),
           y.describe());
  if (dx == 1 && dy == 1) {
    AG_CHECK(x.sizes()[0] == y.sizes()[0], "matmul: inconsistent sizes {} and {}", x.describe(), y.describe());
    return Outputs{sum(mul(x, y))};
  }
  if (dx == 2 && dy == 1) return Outputs{squeeze(mm(x, unsqueeze(y, 1)), -1)};
  if (dx == 1 && dy == 2) return Outputs{squeeze(mm(unsqueeze(x, 0), y), 0)};
  if (dx == 2 && dy == 2) return Outputs{mm(x, y)};
  if (dx >= 3 && dy <= 2) {
    // Fold the batch dims of x into its rows.
    Tensor y2 = dy == 1 ? unsqueeze(y, 1) : y;
    const SymShape xs = x.sym_sizes();
    SymShape out(xs.begin(), xs.end() - 1);
    Tensor prod = mm(reshape(x, {-1, xs.back()}), y2);
    if (dy == 2) out.push_back(y.sym_size(1));
    return Outputs{_unsafe_view(prod, out)};
  }
  // Batched: broadcast the batch dims, fold them into one, bmm.
  Tensor x3 = dx == 1 ? unsqueeze(x, 0) : x;
  Tensor y3 = dy == 1 ? unsqueeze(y, 1) : y;
  const SymShape xs = x3.sym_sizes(), ys = y3.sym_sizes();
  const SymShape batch = broadcast_batch(SymShape(xs.begin(), xs.end() - 2), SymShape(ys.begin(), ys.end() - 2));
  const SymInt n = xs[xs.size() - 2], k = xs.back(), m = ys.back();
  AG_CHECK(ys[ys.size() - 2].hint == k.hint, "matmul: expected other to have {} rows to match self {}, but got {}",
           k.hint, x.describe(), y.describe());
  SymInt b(1);
  for (const SymInt& s : batch) b = b * s;
  SymShape ex = batch, ey = batch;
  ex.push_back(n);
  ex.push_back(k);
  ey.push_back(k);
  ey.push_back(m);
  Tensor xb = reshape(expand(x3, ex), {b, n, k});
  Tensor yb = reshape(expand(y3, ey), {b, k, m});
  SymShape out = batch;
  if (dx > 1) out.push_back(n);
  if (dy > 1) out.push_back(m);
  return Outputs{_unsafe_view(bmm(xb, yb), out)};
}
}  // namespace

void register_linalg_composites(Registry& r) {
  r.decomposition(OpId::matmul, matmul_decomposition);
  r.decomposition(OpId::linear, [](const Args& a) {
    const Tensor &x = a[0].to_tensor(), &w = a[1].to_tensor();
    Tensor b = a[2].to_opt_tensor();
    AG_CHECK(w.dim() == 2, "linear: expected weight to have 2 dims, but got {}", w.describe());
    AG_CHECK(x.dim() >= 1 && x.sizes().back() == w.sizes()[1],
             "linear: expected input with last dim {} to match weight {}, but got input {}", w.sizes()[1], w.describe(),
             x.describe());
    if (x.dim() == 2 && b.defined()) return Outputs{addmm(b, x, t(w))};
    if (x.dim() >= 3 && b.defined() && x.is_contiguous()) {
      const SymShape xs = x.sym_sizes();
      SymShape out(xs.begin(), xs.end() - 1);
      out.push_back(w.sym_size(0));
      Tensor flat = view(x, {-1, xs.back()});
      return Outputs{view(addmm(b, flat, t(w)), out)};
    }
    Tensor y = matmul(x, t(w));
    return Outputs{b.defined() ? add(y, b) : y};
  });
}

}  // namespace aotgrad::ops
