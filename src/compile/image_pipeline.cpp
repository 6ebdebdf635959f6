// Note [Images through two kernels]: a network's first convolution writes a map too
// large for the L2 (squeezenet at batch 8: 64 x 31 x 31 floats an image, 2 MiB in
// all), and the max pool after it read it back from L3: 60 us against ONNX
// Runtime's 37 (Zen 5, 1 thread). Where a convolution's output is read only by a max
// pool that returns its values alone, the two run as one instruction, image by image:
// the convolution writes one image's map into a scratch of a few images (an arena
// value, one image a thread) and the pool reads it from there while it is in L2; the
// whole map is never written.
//
// Both kernels are called as they are, on one image's rows: a convolution's and a
// pool's output rows depend only on the same rows of their input, so the images
// computed one at a time are the images computed together, bit for bit (the kernels'
// paths are chosen by sizes that do not involve the batch, but for splitting work over
// threads, which the instruction does itself: each thread takes a contiguous share
// of the images and its own scratch row).
//
// Where the first op has a kernel for the pair (OpInfo::then_max_pool: a convolution's
// computes in 16-channel blocks that the pool reads as they are, Note [A convolution
// and its pool in channel blocks] in ops/cpu/conv_max_pool.cpp), the instruction runs
// that instead, the scratch unused; where it declines, the two kernels as above.
#include <fmt/format.h>

#include <algorithm>

#include "compile/fusion.h"
#include "support/parallel.h"

namespace aotgrad::compile {

namespace {

// Row i of t along dim 0, as a tensor of one row.
Tensor row(const Tensor& t, int64_t i) {
  Shape sizes = t.sizes();
  sizes[0] = 1;
  return Tensor::alias(t, sizes, t.strides(), t.storage_offset() + i * t.strides()[0]);
}

struct Pipeline {
  ops::KernelFn first, second;
  size_t first_args;  // the instruction's arguments: the first kernel's, then the second's
  int64_t scratch_rows;
  // The pair as one kernel of the first op's (OpInfo::then_max_pool), tried first.
  ops::ThenMaxPoolFn together;
  std::optional<ops::Epilogue> epilogue;  // the first kernel's

  // o: the second kernel's outputs, then the scratch ([scratch_rows, ...]).
  void operator()(const Args& a, Outputs& o) const {
    if (together) {
      const Args first_a(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(first_args));
      const Args second_a(a.begin() + static_cast<std::ptrdiff_t>(first_args), a.end());
      Outputs second_o(o.begin(), o.end() - 1);
      if (together(first_a, epilogue ? &*epilogue : nullptr, second_a, second_o)) return;
    }
    const Tensor x = a[0].to_tensor(), scratch = o.back().to_tensor(), y = o[0].to_tensor();
    const int64_t n = x.sizes()[0];
    const int64_t work = n * scratch.numel() / scratch_rows * 64;  // about cycles: a convolution's
    for_each_thread(work, [&](int t, int nt) {
      const int teams = static_cast<int>(std::min<int64_t>(nt, scratch_rows));
      if (t >= teams) return;
      const Share images = thread_share(n, t, teams);
      Args first_a(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(first_args));
      Args second_a(a.begin() + static_cast<std::ptrdiff_t>(first_args), a.end());
      const Tensor mine = row(scratch, t);
      Outputs first_o{IValue(mine)};
      Outputs second_o(o.begin(), o.end() - 1);
      second_a[0] = IValue(mine);
      for (int64_t i = images.begin; i < images.end; ++i) {
        first_a[0] = IValue(row(x, i));
        first(first_a, first_o);
        second_o[0] = IValue(row(y, i));
        second(second_a, second_o);
      }
    });
  }
};

// Whether `second` (reading `v`, the output of `first`, alone) qualifies: see the Note.
bool qualifies(const Instruction& first, const Instruction& second, const std::vector<int>& second_operands, int v) {
  if (first.op == nullptr || first.op->id != ops::OpId::convolution || first.results.size() != 1) return false;
  if (second.op == nullptr || second.op->id != ops::OpId::max_pool2d_with_indices) return false;
  if (second.results.size() != 2 || second.results[0] < 0 || second.results[1] >= 0) return false;  // values alone
  if (second_operands != std::vector<int>{v} || second.patches.size() != 1 || second.patches[0].arg != 0) return false;
  return !first.patches.empty() && first.patches[0].arg == 0 && first.patches[0].element < 0;
}

}  // namespace

FusionStats pipeline_images(std::vector<Value>& values, std::vector<Instruction>& instructions,
                            std::vector<std::vector<int>>& operands, const std::vector<int>& outputs) {
  const auto [readers, returned] = value_uses(values.size(), operands, outputs);
  FusionStats stats;
  std::vector<bool> absorbed(instructions.size(), false);
  for (size_t f = 0; f < instructions.size(); ++f) {
    Instruction& first = instructions[f];
    if (first.results.size() != 1 || first.results[0] < 0) continue;
    const int v = first.results[0];
    Value& middle = values[static_cast<size_t>(v)];
    if (middle.kind != ValueKind::Arena || returned[static_cast<size_t>(v)] ||
        readers[static_cast<size_t>(v)].size() != 1)
      continue;
    const size_t s = readers[static_cast<size_t>(v)][0];
    Instruction& second = instructions[s];
    if (!qualifies(first, second, operands[s], v) || middle.layout.sizes.empty() || middle.layout.sizes[0] < 2)
      continue;
    // The scratch: one image a thread.
    const int64_t rows = std::min<int64_t>(middle.layout.sizes[0], std::max(1, num_threads()));
    middle.layout.sizes[0] = rows;
    middle.layout.strides = contiguous_strides(middle.layout.sizes);
    Instruction fused = std::move(first);
    const size_t first_args = fused.args.size();
    for (IValue& a : second.args) fused.args.push_back(std::move(a));  // (its tensor, v, is the scratch's row)
    fused.kernel = Pipeline{fused.kernel, second.kernel, first_args, rows, fused.op->then_max_pool, fused.epilogue};
    fused.epilogue.reset();  // (the instruction's op is now the pool's)
    fused.outs = std::move(second.outs);
    fused.outs.emplace_back(middle.meta());
    fused.results = std::move(second.results);
    fused.result_slots = std::move(second.result_slots);
    fused.results.push_back(v);
    fused.result_slots.emplace_back(static_cast<int>(fused.outs.size()) - 1, -1);
    fused.label = fmt::format("images[{}; {}]", fused.label, second.label);
    fused.op = second.op;
    fused.by_address = nullptr;
    instructions[f] = std::move(fused);
    absorbed[s] = true;
    ++stats.groups;
    stats.ops += 2;
  }
  remove_instructions(instructions, operands, absorbed);
  return stats;
}

}  // namespace aotgrad::compile
