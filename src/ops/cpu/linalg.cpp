// CPU kernels of matrix multiply (OpenBLAS through cpu::gemm).
#include "ops/cpu/gemm.h"
#include "ops/cpu/loops.h"
#include "ops/families.h"
#include "support/parallel.h"

namespace aotgrad::ops {

using cpu::out0;

void register_linalg_kernels(Registry& r) {
  r.kernel(OpId::mm,
           [](const Args& a, Outputs& o) { cpu::gemm(a[0].to_tensor(), a[1].to_tensor(), out0(o), 1.0, 0.0); });
  r.kernel(OpId::addmm, [](const Args& a, Outputs& o) {
    Tensor& out = out0(o);
    const double beta = a[3].to_scalar().to_double(), alpha = a[4].to_scalar().to_double();
    if (beta != 0) cpu::copy_into(out, a[0].to_tensor());
    cpu::gemm(a[1].to_tensor(), a[2].to_tensor(), out, alpha, beta == 0 ? 0.0 : beta);
  });
  r.kernel(OpId::bmm, [](const Args& a, Outputs& o) {
    Tensor& out = out0(o);
    const Tensor &x = a[0].to_tensor(), &y = a[1].to_tensor();
    const int64_t batch = x.sizes()[0];
    auto mat = [](const Tensor& t, int64_t i) {
      return Tensor::alias(t, {t.sizes()[1], t.sizes()[2]}, {t.strides()[1], t.strides()[2]},
                           t.storage_offset() + i * t.strides()[0]);
    };
    // Batches in parallel; each product runs on one thread (gemm does not split
    // inside a parallel region).
    const int64_t flops = x.sizes()[1] * x.sizes()[2] * y.sizes()[2];
    parallel_for(batch, flops, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) cpu::gemm(mat(x, i), mat(y, i), mat(out, i), 1.0, 0.0);
    });
  });
}

}  // namespace aotgrad::ops
