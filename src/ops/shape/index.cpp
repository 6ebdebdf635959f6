// Shape rules of indexing and embedding, and the index plan they share.
#include "ops/cpu/loops.h"
#include "ops/families.h"
#include "ops/shape/index_plan.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

IndexPlan plan_index(const Tensor& self, const TensorList& indices, std::string_view op, bool materialize) {
  AG_CHECK(static_cast<int64_t>(indices.size()) <= self.dim(), "{}: too many indices ({}) for a tensor {} of {} dims",
           op, indices.size(), self.describe(), self.dim());
  IndexPlan p;
  Shape b;
  bool first = true;
  for (size_t d = 0; d < static_cast<size_t>(self.dim()); ++d) {
    if (d < indices.size() && indices[d].defined()) {
      const Tensor& idx = indices[d];
      AG_CHECK(is_integral(idx.dtype()),
               "{}: expected index {} to be an int64 or int32 tensor, but got {} (bool masks are not supported)", op, d,
               idx.describe());
      b = first ? idx.sizes() : broadcast_shapes(b, idx.sizes(), op);
      first = false;
      p.indexed.push_back(static_cast<int64_t>(d));
    } else {
      p.kept.push_back(static_cast<int64_t>(d));
    }
  }
  AG_CHECK(!p.indexed.empty(), "{}: expected at least one index tensor", op);
  p.index_shape = b;
  bool adjacent = p.indexed.back() - p.indexed.front() + 1 == static_cast<int64_t>(p.indexed.size());
  int64_t before = 0;
  for (int64_t k : p.kept)
    if (k < p.indexed.front()) ++before;
  p.index_pos = adjacent ? before : 0;
  for (int64_t i = 0; i < static_cast<int64_t>(p.kept.size()); ++i) {
    if (i == p.index_pos) p.result.insert(p.result.end(), b.begin(), b.end());
    p.result.push_back(self.sizes()[p.kept[i]]);
  }
  if (p.index_pos == static_cast<int64_t>(p.kept.size())) p.result.insert(p.result.end(), b.begin(), b.end());
  if (materialize) {
    for (int64_t d : p.indexed) {
      Tensor e = Tensor::empty(b, DType::Int64);
      cpu::copy_into(e, indices[d]);
      p.index_tensors.push_back(e);
    }
  }
  return p;
}

void for_each_indexed(const Tensor& self, const IndexPlan& p, std::string_view op,
                      const std::function<void(int64_t, int64_t)>& fn) {
  const int64_t n = shape_numel(p.result), nb = static_cast<int64_t>(p.index_shape.size());
  const int64_t nd = static_cast<int64_t>(p.result.size());
  std::vector<const int64_t*> idx;
  for (const Tensor& t : p.index_tensors) idx.push_back(t.data_ptr<int64_t>());
  std::vector<int64_t> pos(nd, 0);
  for (int64_t lin = 0; lin < n; ++lin) {
    int64_t rem = lin;
    for (int64_t d = nd - 1; d >= 0; --d) {
      pos[d] = rem % p.result[d];
      rem /= p.result[d];
    }
    int64_t boff = 0;  // linear index into B
    for (int64_t j = 0; j < nb; ++j) boff = boff * p.index_shape[j] + pos[p.index_pos + j];
    int64_t off = self.storage_offset();
    int64_t r = 0;
    for (size_t k = 0; k < p.kept.size(); ++k) {
      if (r == p.index_pos) r += nb;
      off += pos[r++] * self.strides()[p.kept[k]];
    }
    for (size_t j = 0; j < p.indexed.size(); ++j) {
      const int64_t d = p.indexed[j], size = self.sizes()[d];
      int64_t i = idx[j][boff];
      AG_CHECK(i >= -size && i < size, "{}: index {} is out of bounds for dim {} with size {}", op, i, d, size);
      if (i < 0) i += size;
      off += i * self.strides()[d];
    }
    fn(lin, off - self.storage_offset());
  }
}

void register_index_shapes(Registry& r) {
  r.shape(OpId::index_Tensor, [](const Args& a) {
    const Tensor& x = a[0].to_tensor();
    IndexPlan p = plan_index(x, a[1].to_tensor_list(), "index", false);
    return single(meta(p.result, x.dtype()));
  });
  auto put = [](const Args& a) {
    const Tensor &x = a[0].to_tensor(), &v = a[2].to_tensor();
    IndexPlan p = plan_index(x, a[1].to_tensor_list(), "index_put", false);
    Shape b = broadcast_shapes(v.sizes(), p.result, "index_put");
    AG_CHECK(b == p.result, "index_put: values {} cannot be broadcast to the indexed shape {}", v.describe(),
             shape_str(p.result));
    return single(meta(x.sizes(), x.dtype()));
  };
  r.shape(OpId::index_put, put);
  r.shape(OpId::index_put_, put);
  r.shape(OpId::embedding, [](const Args& a) {
    const Tensor &w = a[0].to_tensor(), &idx = a[1].to_tensor();
    check_dim(w, 2, "embedding", "weight");
    AG_CHECK(is_integral(idx.dtype()), "embedding: expected indices to be an integer tensor, but got {}",
             idx.describe());
    Shape out = idx.sizes();
    out.push_back(w.sizes()[1]);
    return single(meta(out, w.dtype()));
  });
  r.shape(OpId::embedding_dense_backward, [](const Args& a) {
    const Tensor& g = a[0].to_tensor();
    return single(meta({a[2].to_int(), g.sizes().back()}, g.dtype()));
  });
}

}  // namespace aotgrad::ops
