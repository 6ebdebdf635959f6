// Note [Concatenations in place]: a concatenation whose inputs are made only for it
// (a fire module's two expand convolutions, a ShuffleNet unit's branches) copies
// every one of them once more: squeezenet's eight took 72 us of a 2.1 ms forward
// (Zen 5, 1 thread, batch 8). Instead, each input becomes a view of the
// concatenation's output, the slice it would be copied to, and its producer writes
// it there; the concatenation's instruction goes.
//
// An input qualifies when the instruction that makes it is a compute op whose kernel
// writes its output wherever the output's strides put it (OpInfo::writes_into_slices:
// a convolution, Note [Outputs in slices] in ops/cpu/conv.cpp), it is that
// instruction's only result, an arena value read by the concatenation alone, once,
// and not returned. Every input must qualify (a concatenation copies all or none),
// and the output must be an arena value of the inputs' dtype. Nothing else reads an
// input, so the slices are written by their producers at their places in the
// schedule and read only where the concatenation stood; the memory plan keeps the
// output alive from the first producer on (a view's writer writes its storage root).
#include <unordered_set>

#include "compile/fusion.h"

namespace aotgrad::compile {

namespace {

// The instruction that writes each value (-1: none).
std::vector<int> writers(const std::vector<Value>& values, const std::vector<Instruction>& instructions) {
  std::vector<int> writer(values.size(), -1);
  for (size_t i = 0; i < instructions.size(); ++i)
    for (int r : instructions[i].results)
      if (r >= 0) writer[static_cast<size_t>(r)] = static_cast<int>(i);
  return writer;
}

// The concatenation's inputs in order, if each qualifies (see the Note); empty if not.
std::vector<int> slices_of(const Instruction& cat, const std::vector<Value>& values,
                           const std::vector<Instruction>& instructions, const std::vector<int>& writer,
                           const ValueUses& uses) {
  std::vector<int> inputs;
  for (const auto& p : cat.patches)
    if (p.arg == 0) inputs.push_back(p.value);
  if (inputs.size() != static_cast<size_t>(cat.args[0].to_tensor_list().size())) return {};
  const Value& out = values[static_cast<size_t>(cat.results[0])];
  std::unordered_set<int> seen;
  for (int v : inputs) {
    const Value& in = values[static_cast<size_t>(v)];
    const int w = writer[static_cast<size_t>(v)];
    if (!seen.insert(v).second || in.kind != ValueKind::Arena || w < 0 || uses.returned[static_cast<size_t>(v)] ||
        uses.readers[static_cast<size_t>(v)].size() != 1 || in.layout.dtype != out.layout.dtype)
      return {};
    const Instruction& producer = instructions[static_cast<size_t>(w)];
    if (producer.op == nullptr || !producer.op->writes_into_slices || producer.results.size() != 1) return {};
  }
  return inputs;
}

}  // namespace

FusionStats place_concatenations(std::vector<Value>& values, std::vector<Instruction>& instructions,
                                 std::vector<std::vector<int>>& operands, const std::vector<int>& outputs) {
  const std::vector<int> writer = writers(values, instructions);
  const ValueUses uses = value_uses(values.size(), operands, outputs);
  FusionStats stats;
  std::vector<bool> dropped(instructions.size(), false);
  for (size_t c = 0; c < instructions.size(); ++c) {
    const Instruction& cat = instructions[c];
    if (cat.op == nullptr || cat.op->id != ops::OpId::cat || cat.results.size() != 1 || cat.results[0] < 0) continue;
    const int whole = cat.results[0];
    const graph::TensorVal& layout = values[static_cast<size_t>(whole)].layout;
    if (values[static_cast<size_t>(whole)].kind != ValueKind::Arena || uses.returned[static_cast<size_t>(whole)])
      continue;
    const std::vector<int> inputs = slices_of(cat, values, instructions, writer, uses);
    if (inputs.empty()) continue;
    const auto rank = static_cast<int64_t>(layout.sizes.size());
    int64_t dim = cat.args.size() > 1 ? cat.args[1].to_int() : 0;
    if (dim < 0) dim += rank;
    int64_t at = 0;  // where along dim the next input starts
    for (int v : inputs) {
      Value& in = values[static_cast<size_t>(v)];
      const int64_t length = in.layout.sizes[static_cast<size_t>(dim)];
      in.kind = ValueKind::View;
      in.base = whole;
      in.layout.strides = layout.strides;
      in.layout.offset = layout.offset + at * layout.strides[static_cast<size_t>(dim)];
      at += length;
      // Its writer now writes a strided slice: not by bare address (Note [Operands by
      // address] in executor.cpp), which assumes packed outputs.
      instructions[static_cast<size_t>(writer[static_cast<size_t>(v)])].by_address = nullptr;
    }
    dropped[c] = true;
    ++stats.groups;
    stats.ops += static_cast<int64_t>(inputs.size());
  }
  remove_instructions(instructions, operands, dropped);
  return stats;
}

}  // namespace aotgrad::compile
