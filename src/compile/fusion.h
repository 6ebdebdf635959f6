// Fusing chains of elementwise ops into one loop (the rules: fusion.cpp's header).
#pragma once

#include <vector>

#include "compile/program.h"

namespace aotgrad::compile {

struct FusionStats {
  int64_t groups = 0, ops = 0;
};

/// Replaces groups of float32 elementwise instructions over same-size contiguous
/// operands by single fused instructions (several outputs each where the group's
/// values are read outside it); values only the group reads are no longer
/// materialised. `operands` (every value each instruction reads) is kept in step.
FusionStats fuse_pointwise_chains(std::vector<Value>& values, std::vector<Instruction>& instructions,
                                  std::vector<std::vector<int>>& operands, const std::vector<int>& outputs);

/// Note [Epilogues] (ops/elementwise.h): gives an op whose kernel takes an epilogue
/// (a convolution) the unary elementwise op that is the only reader of its output,
/// and drops that op's instruction (epilogue_fusion.cpp). Runs before the
/// elementwise chains are fused.
FusionStats fuse_epilogues(std::vector<Value>& values, std::vector<Instruction>& instructions,
                           std::vector<std::vector<int>>& operands, const std::vector<int>& outputs);

/// Note [Concatenations in place] (concat_in_place.cpp): makes each input of a
/// concatenation a view of its output, written there by its producer, where every
/// input is made only for it; drops the concatenation. Runs after the epilogues.
FusionStats place_concatenations(std::vector<Value>& values, std::vector<Instruction>& instructions,
                                 std::vector<std::vector<int>>& operands, const std::vector<int>& outputs);

/// Note [Images through two kernels] (image_pipeline.cpp): a convolution whose output
/// only a values-alone max pool reads runs with it as one instruction, image by
/// image, through a scratch of one image a thread. Runs after the epilogues.
FusionStats pipeline_images(std::vector<Value>& values, std::vector<Instruction>& instructions,
                            std::vector<std::vector<int>>& operands, const std::vector<int>& outputs);

/// Who reads each value (the instructions, once per operand) and whether the program
/// returns it: what every fusion rule asks of a producer's output.
struct ValueUses {
  std::vector<std::vector<size_t>> readers;
  std::vector<bool> returned;
};
ValueUses value_uses(size_t values, const std::vector<std::vector<int>>& operands, const std::vector<int>& outputs);

/// Removes the instructions marked in `removed`, keeping `operands` in step.
void remove_instructions(std::vector<Instruction>& instructions, std::vector<std::vector<int>>& operands,
                         const std::vector<bool>& removed);

/// Merges fused loops that run the same steps on different tensors into multi-tensor
/// loops (Note [Multi-tensor loops]). Runs after the planner has put input updates in
/// place (ValueKind::IntoInput), which it must respect.
FusionStats fuse_across_tensors(std::vector<Value>& values, std::vector<Instruction>& instructions,
                                std::vector<std::vector<int>>& operands);

/// Moves single-element float ops as early as their operands allow, into
/// instructions that evaluate many of them at once (Note [Single-element batches],
/// single_element_batch.cpp). Runs after the planner has put input updates in place.
FusionStats batch_single_element_ops(std::vector<Value>& values, std::vector<Instruction>& instructions,
                                     std::vector<std::vector<int>>& operands, const std::vector<int>& outputs);

}  // namespace aotgrad::compile
