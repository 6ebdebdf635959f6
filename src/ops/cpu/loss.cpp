// CPU kernels of the losses.
#include <algorithm>
#include "ops/cpu/loops.h"
#include "ops/families.h"

namespace aotgrad::ops {

void register_loss_kernels(Registry& r) {
  r.kernel(OpId::nll_loss_forward, [](const Args& a, Outputs& o) {
    Tensor x = cpu::as_contiguous(a[0].to_tensor());
    Tensor t = cpu::as_contiguous(a[1].to_tensor(), DType::Int64);
    Tensor w = a[2].is_none() ? Tensor() : cpu::as_contiguous(a[2].to_tensor(), x.dtype());
    const int64_t red = a[3].to_int(), ignore = a[4].to_int();
    const int64_t c = x.sizes().back(), n = x.dim() == 2 ? x.sizes()[0] : 1;
    cpu::visit_floating(x.dtype(), "nll_loss", [&]<typename T>() {
      const T* px = x.data_ptr<T>();
      const int64_t* pt = t.data_ptr<int64_t>();
      const T* pw = w.defined() ? w.data_ptr<T>() : nullptr;
      T* out = o[0].to_tensor().data_ptr<T>();
      double total = 0, wsum = 0;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t k = pt[i];
        if (k == ignore) {
          if (red == 0) out[i] = 0;
          continue;
        }
        AG_CHECK(k >= 0 && k < c, "nll_loss: target {} out of bounds for {} classes (entry {})", k, c, i);
        const double wk = pw ? pw[k] : 1.0;
        const double l = -wk * px[i * c + k];
        if (red == 0) out[i] = static_cast<T>(l);
        total += l;
        wsum += wk;
      }
      if (red == 1) out[0] = static_cast<T>(total / wsum);
      if (red == 2) out[0] = static_cast<T>(total);
      o[1].to_tensor().data_ptr<T>()[0] = static_cast<T>(wsum);
    });
  });
  r.kernel(OpId::nll_loss_backward, [](const Args& a, Outputs& o) {
    Tensor g = cpu::as_contiguous(a[0].to_tensor());
    Tensor& gx = cpu::out0(o);
    Tensor t = cpu::as_contiguous(a[2].to_tensor(), DType::Int64);
    Tensor w = a[3].is_none() ? Tensor() : cpu::as_contiguous(a[3].to_tensor(), gx.dtype());
    const int64_t red = a[4].to_int(), ignore = a[5].to_int();
    const int64_t c = gx.sizes().back(), n = gx.dim() == 2 ? gx.sizes()[0] : 1;
    cpu::fill(gx, 0);
    cpu::visit_floating(gx.dtype(), "nll_loss_backward", [&]<typename T>() {
      const T* pg = g.data_ptr<T>();
      const int64_t* pt = t.data_ptr<int64_t>();
      const T* pw = w.defined() ? w.data_ptr<T>() : nullptr;
      T* px = gx.data_ptr<T>();
      const double total_weight = a[6].to_tensor().item<double>();
      for (int64_t i = 0; i < n; ++i) {
        const int64_t k = pt[i];
        if (k == ignore) continue;
        AG_CHECK(k >= 0 && k < c, "nll_loss_backward: target {} out of bounds for {} classes", k, c);
        const double wk = pw ? pw[k] : 1.0;
        double gi = red == 0 ? pg[i] : pg[0];
        if (red == 1) gi /= total_weight;
        px[i * c + k] = static_cast<T>(-wk * gi);
      }
    });
  });
  r.kernel(OpId::mse_loss, [](const Args& a, Outputs& o) {
    const Tensor &x = a[0].to_tensor(), &t = a[1].to_tensor();
    Tensor& out = cpu::out0(o);
    const int64_t red = a[2].to_int();
    cpu::visit_floating(x.dtype(), "mse_loss", [&]<typename T>() {
      Shape s = broadcast_shapes(x.sizes(), t.sizes(), "mse_loss");
      if (red != 0 && x.sizes() == t.sizes() && x.is_contiguous() && t.is_contiguous() && t.dtype() == x.dtype()) {
        // One pass, no temporary: vector-lane sums over blocks, blocks summed in double.
        const T *px = x.data_ptr<T>(), *pt = t.data_ptr<T>();
        const int64_t n = x.numel();
        constexpr int64_t kBlock = 1024;
        double acc = 0;
        for (int64_t b = 0; b < n; b += kBlock) {
          const int64_t e = std::min(n, b + kBlock);
          T part = 0;
#pragma omp simd reduction(+ : part)
          for (int64_t i = b; i < e; ++i) part += (px[i] - pt[i]) * (px[i] - pt[i]);
          acc += part;
        }
        out.data_ptr<T>()[0] = static_cast<T>(red == 1 ? acc / static_cast<double>(n) : acc);
        return;
      }
      Tensor sq = red == 0 ? out : Tensor::empty(s, x.dtype());
      cpu::map2<T, T, T>(sq, x, cpu::as_contiguous(t, x.dtype()), [](T u, T v) { return (u - v) * (u - v); });
      if (red == 0) return;
      const int64_t n = sq.numel();
      const double acc = cpu::sum_of(sq.data_ptr<T>(), n);  // Note [Sums in eight lanes]
      out.data_ptr<T>()[0] = static_cast<T>(red == 1 ? acc / static_cast<double>(n) : acc);
    });
  });
  r.kernel(OpId::mse_loss_backward, [](const Args& a, Outputs& o) {
    Tensor& gx = cpu::out0(o);
    const int64_t red = a[3].to_int();
    cpu::visit_floating(gx.dtype(), "mse_loss_backward", [&]<typename T>() {
      Tensor diff = Tensor::empty(gx.sizes(), gx.dtype());
      cpu::map2<T, T, T>(diff, a[1].to_tensor(), cpu::as_contiguous(a[2].to_tensor(), gx.dtype()),
                         [](T u, T v) { return u - v; });
      const double scale = red == 1 ? 2.0 / static_cast<double>(gx.numel()) : 2.0;
      Tensor g = cpu::as_contiguous(a[0].to_tensor(), gx.dtype());
      cpu::map2<T, T, T>(gx, diff, g, [scale](T d, T gv) { return static_cast<T>(scale * d * gv); });
    });
  });
}

}  // namespace aotgrad::ops
