// Handing an op the elementwise op that reads its output (Note [Epilogues] in
// ops/elementwise.h): a convolution followed by its ReLU becomes one instruction that
// applies the ReLU to each piece of output as it finishes it, and the ReLU's own pass
// over memory, a whole tensor written and read again, goes.
//
// The pair qualifies when the producer's kernel takes an epilogue
// (OpInfo::with_epilogue), its one output is read by one instruction only and is not
// returned, and that reader is a unary elementwise op (its ElementwiseForm says which
// formula, with which numbers) of that output alone, whose result has the same layout
// and dtype. Nothing else reads the producer's output, so computing the reader's
// result at the producer's place in the schedule changes no other instruction.
#include <optional>

#include <fmt/format.h>

#include "compile/fusion.h"

namespace aotgrad::compile {

namespace {
// The epilogue `consumer` computes, if it is a unary formula on every call like this one.
std::optional<ops::Epilogue> epilogue_of(const Instruction& consumer) {
  if (consumer.op == nullptr || !consumer.op->elementwise || consumer.results.size() != 1) return std::nullopt;
  const ops::ElementwiseForm& form = *consumer.op->elementwise;
  ops::FormulaParams params;
  if (ops::formula_arity(form.formula) != 1 || !form.params(consumer.args, params)) return std::nullopt;
  return ops::Epilogue{form.formula, params};
}
}  // namespace

FusionStats fuse_epilogues(std::vector<Value>& values, std::vector<Instruction>& instructions,
                           std::vector<std::vector<int>>& operands, const std::vector<int>& outputs) {
  const auto [readers, returned] = value_uses(values.size(), operands, outputs);
  FusionStats stats;
  std::vector<bool> absorbed(instructions.size(), false);
  for (Instruction& producer : instructions) {
    if (producer.op == nullptr || !producer.op->with_epilogue || producer.results.size() != 1) continue;
    const int v = producer.results[0];
    if (v < 0 || returned[static_cast<size_t>(v)] || readers[static_cast<size_t>(v)].size() != 1) continue;
    const size_t c = readers[static_cast<size_t>(v)][0];
    const Instruction& consumer = instructions[c];
    const std::optional<ops::Epilogue> epilogue = epilogue_of(consumer);
    if (!epilogue || operands[c] != std::vector<int>{v}) continue;
    const int w = consumer.results[0];
    if (w < 0) continue;
    const Value& result = values[static_cast<size_t>(w)];
    if (result.layout != values[static_cast<size_t>(v)].layout ||
        (result.kind != ValueKind::Arena && result.kind != ValueKind::Fresh))
      continue;
    producer.results[0] = w;
    producer.label = fmt::format("fused[{}, {}; epilogue]", producer.op->name(), consumer.op->name());
    producer.kernel = [with = producer.op->with_epilogue, e = *epilogue](const Args& a, Outputs& o) { with(a, o, e); };
    producer.epilogue = epilogue;
    producer.by_address = nullptr;
    absorbed[c] = true;
    ++stats.groups;
    stats.ops += 2;
  }
  remove_instructions(instructions, operands, absorbed);
  return stats;
}

ValueUses value_uses(size_t values, const std::vector<std::vector<int>>& operands, const std::vector<int>& outputs) {
  ValueUses u{std::vector<std::vector<size_t>>(values), std::vector<bool>(values, false)};
  for (size_t i = 0; i < operands.size(); ++i)
    for (int v : operands[i]) u.readers[static_cast<size_t>(v)].push_back(i);
  for (int v : outputs)
    if (v >= 0) u.returned[static_cast<size_t>(v)] = true;
  return u;
}

void remove_instructions(std::vector<Instruction>& instructions, std::vector<std::vector<int>>& operands,
                         const std::vector<bool>& removed) {
  size_t kept = 0;
  for (size_t i = 0; i < instructions.size(); ++i) {
    if (removed[i]) continue;
    if (kept != i) {  // (a vector moved onto itself is left empty)
      instructions[kept] = std::move(instructions[i]);
      operands[kept] = std::move(operands[i]);
    }
    ++kept;
  }
  instructions.resize(kept);
  operands.resize(kept);
}

}  // namespace aotgrad::compile
