// The FLOP bound of a training step (BENCHMARKS.md): the FLOPs of its products
// divided by the best SGEMM rate measured in the same run.
#pragma once

#include "aotgrad/graph.h"

namespace aotgrad::cli {

/// Floating-point operations of one run of `gm`'s products: mm, addmm and bmm, and
/// each convolution and the gradients its backward computes (as many multiply-adds
/// as its forward each). Elementwise and normalisation ops are not counted: the
/// bound is what the products alone would take at the GEMM's rate.
double product_flops(const graph::GraphModule& gm);

/// The best rate (GFLOP/s) of single-precision 1024 x 1024 x 1024 products through
/// the op table, at the current thread count.
double measured_sgemm_gflops();

}  // namespace aotgrad::cli
