#include "bench_gemm.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "aotgrad/export.h"
#include "ops/cpu/gemm.h"
#include "ops/registry.h"
#include "support/parallel.h"

extern "C" void openblas_set_num_threads(int);

namespace aotgrad::cli {

bool GemmShape::operator<(const GemmShape& o) const {
  return std::tie(m, n, k, trans_a, trans_b) < std::tie(o.m, o.n, o.k, o.trans_a, o.trans_b);
}

namespace {

const graph::TensorVal& val_of(const graph::Arg& a) {
  return a.node()->meta.val.as_tensor();
}

// Whether a 2-d operand (the last two dims of a batched one) is read transposed: its
// columns are contiguous and its rows are not.
bool transposed(const graph::TensorVal& v) {
  const size_t d = v.sizes.size();
  return d >= 2 && v.strides[d - 1] != 1 && v.strides[d - 2] == 1;
}

GemmUse product_of(const graph::TensorVal& a, const graph::TensorVal& b, const char* op) {
  const size_t d = a.sizes.size();
  int64_t batch = 1;
  for (size_t i = 0; i + 2 < d; ++i) batch *= a.sizes[i];
  return {{transposed(a), transposed(b), a.sizes[d - 2], b.sizes.back(), a.sizes[d - 1]}, op, batch};
}

// A convolution's three products over the whole batch: forward (weight x im2col),
// input gradient (weightᵀ x gy) and weight gradient (gy x im2colᵀ), per group.
void convolution_products(const Shape& w, const Shape& y, int64_t groups, const bool which[3],
                          std::vector<GemmUse>& out) {
  const int64_t cols = y[0] * y[2] * y[3], ocg = w[0] / groups, K = w[1] * w[2] * w[3];
  if (w[1] == 1 && groups > 1) return;  // depthwise: direct loops, no product
  if (which[0]) out.push_back({{false, false, ocg, cols, K}, "conv forward", groups});
  if (which[1]) out.push_back({{true, false, K, cols, ocg}, "conv input grad", groups});
  if (which[2]) out.push_back({{false, true, ocg, K, cols}, "conv weight grad", groups});
}

}  // namespace

std::vector<GemmUse> gemm_uses(const graph::GraphModule& gm) {
  std::vector<GemmUse> uses;
  for (const auto& n : gm.graph->nodes()) {
    if (n->op() != graph::NodeOp::CallFunction || n->target().kind != graph::Target::Kind::Op) continue;
    const auto& a = n->args();
    switch (n->target().op->id) {
      case ops::OpId::mm:
        uses.push_back(product_of(val_of(a[0]), val_of(a[1]), "mm"));
        break;
      case ops::OpId::bmm:
        uses.push_back(product_of(val_of(a[0]), val_of(a[1]), "bmm"));
        break;
      case ops::OpId::addmm:
        uses.push_back(product_of(val_of(a[1]), val_of(a[2]), "addmm"));
        break;
      case ops::OpId::convolution: {
        const bool forward[3] = {true, false, false};
        convolution_products(val_of(a[1]).sizes, n->meta.val.as_tensor().sizes, a[8].to_int(), forward, uses);
        break;
      }
      case ops::OpId::convolution_backward: {
        const auto& mask = a[10].list();
        const bool grads[3] = {false, mask[0].to_bool(), mask[1].to_bool()};
        convolution_products(val_of(a[2]).sizes, val_of(a[0]).sizes, a[9].to_int(), grads, uses);
        break;
      }
      default:
        break;
    }
  }
  return uses;
}

namespace {

// The median time (ms) of `run`, repeated until about 40 ms have passed (at least 5 runs).
template <typename F>
double median_ms(F&& run) {
  run();  // warm: packing buffers, pages
  std::vector<double> times;
  double total = 0;
  while (times.size() < 5 || (total < 40 && times.size() < 200)) {
    const auto start = std::chrono::steady_clock::now();
    run();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    total += times.back();
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

struct Rates {
  double ours = 0, openblas = 0;  // GFLOP/s
};

Rates time_shape(const GemmShape& s, int threads) {
  const auto size = [](int64_t r, int64_t c) { return static_cast<size_t>(std::max<int64_t>(r * c, 1)); };
  std::vector<float> a(size(s.m, s.k)), b(size(s.k, s.n)), c(size(s.m, s.n));
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 7) * 0.25f - 0.75f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i % 5) * 0.5f - 1.0f;
  const int64_t lda = s.trans_a ? s.m : s.k, ldb = s.trans_b ? s.k : s.n;
  const double flops = 2.0 * static_cast<double>(s.m) * static_cast<double>(s.n) * static_cast<double>(s.k);
  Rates r;
  r.ours = flops / (median_ms([&] {
                      ops::cpu::sgemm_raw(s.trans_a, s.trans_b, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f,
                                          c.data(), s.n);
                    }) *
                    1e6);
  openblas_set_num_threads(threads);  // for its own timing only: aotgrad keeps OpenBLAS at one thread
  r.openblas =
      flops / (median_ms([&] {
                 cblas_sgemm(CblasRowMajor, s.trans_a ? CblasTrans : CblasNoTrans,
                             s.trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(s.m), static_cast<int>(s.n),
                             static_cast<int>(s.k), 1.0f, a.data(), static_cast<int>(lda), b.data(),
                             static_cast<int>(ldb), 0.0f, c.data(), static_cast<int>(s.n));
               }) *
               1e6);
  openblas_set_num_threads(1);
  return r;
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

// The distinct products of a model's joint graph, with the ops that make them and how often.
std::map<GemmShape, GemmUse> products_of(const models::ModelInfo& info) {
  models::Instance inst = models::instantiate(info);
  const auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs);
  std::map<GemmShape, GemmUse> distinct;
  for (const GemmUse& u : gemm_uses(*joint.graph_module)) {
    auto [it, fresh] = distinct.emplace(u.shape, u);
    if (!fresh) {
      it->second.count += u.count;
      if (it->second.op.find(u.op) == std::string::npos) it->second.op += ", " + u.op;
    }
  }
  return distinct;
}

}  // namespace

void print_gemm_bench(const std::vector<const models::ModelInfo*>& models, const std::vector<int>& threads, bool json) {
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  if (!json) {
    std::printf("cpu: %s; OpenBLAS core type: %s\n", cpu_name().c_str(), coretype ? coretype : "(its own detection)");
    std::printf("%-18s %3s %-2s %6s %6s %6s %5s  %-28s %9s %9s %7s\n", "model", "thr", "tt", "m", "n", "k", "uses",
                "from", "aotgrad", "openblas", "ratio");
  }
  for (const models::ModelInfo* info : models)
    for (const auto& [shape, use] : products_of(*info))
      for (int t : threads) {
        set_num_threads(t);
        const Rates r = time_shape(shape, t);
        const std::string tt = std::string(shape.trans_a ? "T" : "N") + (shape.trans_b ? "T" : "N");
        if (json)
          std::printf(
              "{\"model\": \"%s\", \"threads\": %d, \"trans\": \"%s\", \"m\": %lld, \"n\": %lld, \"k\": %lld, "
              "\"uses\": %lld, \"from\": \"%s\", \"aotgrad_gflops\": %.1f, \"openblas_gflops\": %.1f}\n",
              info->name.c_str(), t, tt.c_str(), static_cast<long long>(shape.m), static_cast<long long>(shape.n),
              static_cast<long long>(shape.k), static_cast<long long>(use.count), use.op.c_str(), r.ours, r.openblas);
        else
          std::printf("%-18s %3d %-2s %6lld %6lld %6lld %5lld  %-28s %9.1f %9.1f %6.2fx\n", info->name.c_str(), t,
                      tt.c_str(), static_cast<long long>(shape.m), static_cast<long long>(shape.n),
                      static_cast<long long>(shape.k), static_cast<long long>(use.count), use.op.c_str(), r.ours,
                      r.openblas, r.ours / r.openblas);
        std::fflush(stdout);
      }
}

}  // namespace aotgrad::cli
