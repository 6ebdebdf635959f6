// CPU kernels of indexing and embedding.
#include "ops/cpu/loops.h"
#include "ops/families.h"
#include "ops/shape/index_plan.h"

namespace aotgrad::ops {

namespace {
// Writes values (broadcast to the indexed shape) into `dst` at the indexed places.
void put_into(const Tensor& dst, const TensorList& indices, const Tensor& values, bool acc) {
  IndexPlan p = plan_index(dst, indices, "index_put", true);
  visit_dtype(dst.dtype(), [&]<typename T>() {
    Tensor v = Tensor::empty(p.result, dst.dtype());
    cpu::copy_into(v, values);
    const T* pv = v.data_ptr<T>();
    T* pd = static_cast<T*>(dst.raw_data());
    for_each_indexed(dst, p, "index_put", [&](int64_t lin, int64_t off) {
      if (acc)
        pd[off] = static_cast<T>(pd[off] + pv[lin]);
      else
        pd[off] = pv[lin];
    });
  });
}
}  // namespace

void register_index_kernels(Registry& r) {
  r.kernel(OpId::index_Tensor, [](const Args& a, Outputs& o) {
    const Tensor& x = a[0].to_tensor();
    Tensor& out = cpu::out0(o);
    IndexPlan p = plan_index(x, a[1].to_tensor_list(), "index", true);
    visit_dtype(x.dtype(), [&]<typename T>() {
      const T* px = static_cast<const T*>(x.raw_data());
      T* po = out.data_ptr<T>();
      for_each_indexed(x, p, "index", [&](int64_t lin, int64_t off) { po[lin] = px[off]; });
    });
  });
  r.kernel(OpId::index_put, [](const Args& a, Outputs& o) {
    Tensor& out = cpu::out0(o);
    cpu::copy_into(out, a[0].to_tensor());
    put_into(out, a[1].to_tensor_list(), a[2].to_tensor(), a[3].to_bool());
  });
  r.kernel(OpId::index_put_, [](const Args& a, Outputs&) {
    put_into(a[0].to_tensor(), a[1].to_tensor_list(), a[2].to_tensor(), a[3].to_bool());
  });
  r.kernel(OpId::embedding, [](const Args& a, Outputs& o) {
    Tensor w = cpu::as_contiguous(a[0].to_tensor());
    Tensor idx = cpu::as_contiguous(a[1].to_tensor(), DType::Int64);
    Tensor& out = cpu::out0(o);
    const int64_t v = w.sizes()[0], d = w.sizes()[1];
    visit_dtype(w.dtype(), [&]<typename T>() {
      const T* pw = w.data_ptr<T>();
      const int64_t* pi = idx.data_ptr<int64_t>();
      T* po = out.data_ptr<T>();
      const int64_t n = idx.numel();
      for (int64_t i = 0; i < n; ++i) {
        AG_CHECK(pi[i] >= 0 && pi[i] < v, "embedding: index {} out of range for {} embeddings", pi[i], v);
        std::copy(pw + pi[i] * d, pw + (pi[i] + 1) * d, po + i * d);
      }
    });
  });
  r.kernel(OpId::embedding_dense_backward, [](const Args& a, Outputs& o) {
    Tensor g = cpu::as_contiguous(a[0].to_tensor());
    Tensor idx = cpu::as_contiguous(a[1].to_tensor(), DType::Int64);
    Tensor& out = cpu::out0(o);
    const int64_t v = a[2].to_int(), pad = a[3].to_int(), d = out.sizes()[1];
    const bool by_freq = a[4].to_bool();
    cpu::fill(out, 0);
    cpu::visit_floating(out.dtype(), "embedding_dense_backward", [&]<typename T>() {
      const T* pg = g.data_ptr<T>();
      const int64_t* pi = idx.data_ptr<int64_t>();
      T* po = out.data_ptr<T>();
      std::vector<int64_t> freq(by_freq ? v : 0, 0);
      const int64_t n = idx.numel();
      if (by_freq)
        for (int64_t i = 0; i < n; ++i) ++freq[pi[i]];
      for (int64_t i = 0; i < n; ++i) {
        const int64_t k = pi[i];
        AG_CHECK(k >= 0 && k < v, "embedding_dense_backward: index {} out of range for {} embeddings", k, v);
        if (k == pad) continue;
        const T s = by_freq ? T(1) / static_cast<T>(freq[k]) : T(1);
        for (int64_t j = 0; j < d; ++j) po[k * d + j] += pg[i * d + j] * s;
      }
    });
  });
}

}  // namespace aotgrad::ops
