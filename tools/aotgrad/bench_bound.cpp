#include "bench_bound.h"

#include <algorithm>
#include <chrono>

#include "aotgrad/autograd.h"
#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "ops/registry.h"

namespace aotgrad::cli {

namespace {
const Shape& sizes_of(const graph::Arg& a) {
  return a.node()->meta.val.as_tensor().sizes;
}
double numel_of(const Shape& s) {
  return static_cast<double>(shape_numel(s));
}
// 2 m k n of a [.., m, k] x [.., k, n] product (batch dims multiply in).
double product(const Shape& a, const Shape& b) {
  return 2 * numel_of(a) * static_cast<double>(b.back());
}
// A convolution's multiply-adds: each output element sums over (C / groups) * KH * KW.
double convolution(const Shape& out, const Shape& weight) {
  return 2 * numel_of(out) * numel_of(weight) / static_cast<double>(weight[0]);
}
}  // namespace

double product_flops(const graph::GraphModule& gm) {
  double flops = 0;
  for (const auto& n : gm.graph->nodes()) {
    if (n->op() != graph::NodeOp::CallFunction || n->target().kind != graph::Target::Kind::Op) continue;
    const auto& a = n->args();
    switch (n->target().op->id) {
      case ops::OpId::mm:
      case ops::OpId::bmm:
        flops += product(sizes_of(a[0]), sizes_of(a[1]));
        break;
      case ops::OpId::addmm:
        flops += product(sizes_of(a[1]), sizes_of(a[2]));
        break;
      case ops::OpId::convolution:
        flops += convolution(n->meta.val.as_tensor().sizes, sizes_of(a[1]));
        break;
      case ops::OpId::convolution_backward: {
        // output_mask (argument 10): input gradient, weight gradient, bias gradient.
        const double each = convolution(sizes_of(a[0]), sizes_of(a[2]));
        const auto& mask = a[10].list();
        flops += each * ((mask[0].to_bool() ? 1 : 0) + (mask[1].to_bool() ? 1 : 0));
        break;
      }
      default:
        break;
    }
  }
  return flops;
}

double measured_sgemm_gflops() {
  autograd::NoGradGuard no_grad;
  constexpr int64_t kN = 1024;
  Tensor a = randn({kN, kN}), b = randn({kN, kN});
  double best_ms = 1e30;
  for (int i = 0; i < 7; ++i) {
    const auto start = std::chrono::steady_clock::now();
    Tensor c = mm(a, b);
    best_ms =
        std::min(best_ms, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return 2.0 * kN * kN * kN / (best_ms * 1e6);
}

}  // namespace aotgrad::cli
