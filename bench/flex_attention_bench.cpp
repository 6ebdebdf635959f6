// flex_attention against the same attention written with dense ops, side by side.
//
//   build/flex_attention_bench [--seq 1024] [--steps 20] [--threads T]
//
// The flex_attention model's setting (batch 2, 4 heads, head dim 64, a block-causal
// mask over 2 documents, identity score_mod) at a longer sequence. Each round times
// one forward + backward of each, alternating, and the medians and their ratio are
// printed: flex_attention skips the blocks the mask leaves out; the dense form
// computes every score and masks it afterwards.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "aotgrad/autograd.h"
#include "aotgrad/hop.h"
#include "aotgrad/models.h"
#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "support/parallel.h"

using namespace aotgrad;

namespace {
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double time_ms(const std::function<void()>& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}
}  // namespace

int main(int argc, char** argv) {
  int64_t seq = 1024, steps = 20;
  int threads = num_threads();
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seq") == 0)
      seq = std::atoll(argv[i + 1]);
    else if (std::strcmp(argv[i], "--steps") == 0)
      steps = std::atoll(argv[i + 1]);
    else if (std::strcmp(argv[i], "--threads") == 0)
      threads = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: %s [--seq N] [--steps N] [--threads T]\n", argv[0]);
      return 2;
    }
  }
  if (seq < 1 || steps < 1 || threads < 1) {
    std::fprintf(stderr, "--seq, --steps and --threads must be positive\n");
    return 2;
  }
  set_num_threads(threads);
  const int64_t B = 2, H = 4, D = 64;
  Generator g(0);
  TensorList qkv;
  for (int i = 0; i < 3; ++i) {
    qkv.push_back(randn({B, H, seq, D}, DType::Float32, &g));
    qkv.back().set_requires_grad(true);
  }
  const Tensor grad_out = randn({B, H, seq, D}, DType::Float32, &g);
  const MaskMod mask = models::flex_document_mask(seq, 2);
  const BlockMask block_mask = create_block_mask(mask, 1, 1, seq, seq);

  auto flex_step = [&] {
    autograd::grad({flex_attention(qkv[0], qkv[1], qkv[2], nullptr, block_mask)}, qkv, {grad_out});
  };
  auto dense_step = [&] {
    autograd::grad({explicit_masked_attention(qkv[0], qkv[1], qkv[2], nullptr, mask)}, qkv, {grad_out});
  };
  flex_step();  // warm the allocator and the BLAS
  dense_step();
  std::vector<double> flex, dense;
  for (int64_t s = 0; s < steps; ++s) {
    flex.push_back(time_ms(flex_step));
    dense.push_back(time_ms(dense_step));
  }
  const double f = median(flex), d = median(dense);
  std::printf(
      "flex_attention vs explicit masked attention: B %lld H %lld S %lld D %lld, %d thread(s), %.0f%% of blocks "
      "skipped\n",
      static_cast<long long>(B), static_cast<long long>(H), static_cast<long long>(seq), static_cast<long long>(D),
      threads, 100 * block_mask.sparsity());
  std::printf("forward+backward median over %lld steps: flex %.2f ms, explicit %.2f ms, explicit/flex %.2fx\n",
              static_cast<long long>(steps), f, d, d / f);
  return 0;
}
