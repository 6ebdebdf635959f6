// `aotgrad bench --gemm`: the single-precision products the models' training steps
// make, each timed through aotgrad's GEMM (our AVX-512 kernel where the CPU has
// it, else OpenBLAS, split over our threads) and through OpenBLAS's cblas_sgemm
// (with the OPENBLAS_CORETYPE in force), side by side in GFLOP/s (BENCHMARKS.md).
#pragma once

#include <vector>

#include "aotgrad/graph.h"
#include "aotgrad/models.h"

namespace aotgrad::cli {

/// One product C[m, n] = op(A) op(B) with k terms, as the op table's kernels call it.
struct GemmShape {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  bool operator<(const GemmShape& o) const;
};

/// A product of a model's step: its shape, where it comes from ("mm", "conv
/// forward", ...) and how many times one step makes it.
struct GemmUse {
  GemmShape shape;
  std::string op;
  int64_t count = 0;
};

/// The products of one run of `gm`: mm, addmm and bmm (transposes read from the
/// operands' strides; each matrix of a bmm once), and each convolution and its
/// gradients as the im2col products over the whole batch (depthwise ones excluded:
/// no product).
std::vector<GemmUse> gemm_uses(const graph::GraphModule& gm);

/// Times every distinct product of each model's joint graph at each thread count
/// and prints the table (or one JSON object per line).
void print_gemm_bench(const std::vector<const models::ModelInfo*>& models, const std::vector<int>& threads, bool json);

}  // namespace aotgrad::cli
