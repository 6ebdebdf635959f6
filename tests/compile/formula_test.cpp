// Note [One formula per elementwise op]: an op that declares a formula computes it in
// its kernel and in a fused loop alike, so the two agree on every sample of the op
// database, and fusion needs no list of its own. "Agree" is within a few units in the
// last place (or 1e-6 of 1 + |value| where a formula cancels), not bit for bit: the
// compiler may contract `a * b + c` into a fused multiply-add in one instantiation
// and not in the other.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "compile/fused_loop.h"
#include "ops/dispatch.h"
#include "ops/op_db.h"
#include "ops/registry.h"

using namespace aotgrad;
using aotgrad::testing::op_database;
using aotgrad::testing::OpEntry;
using aotgrad::testing::Sample;

namespace {
// The sample's operands as a one-step loop reads them: tensors broadcast to the
// output's shape and made contiguous float32, numbers as immediates.
struct LoopCall {
  compile::FusedLoop loop;
  Args inputs;
};

// The loop is built from what compile::decode reads off the call, as fusion builds it.
LoopCall one_step_loop(const compile::Decoded& d, const std::string& name, const Shape& out_shape) {
  LoopCall c;
  compile::Step step{d.formula, {}, {}, d.params, name};
  const int arity = ops::formula_arity(d.formula);
  for (int k = 0; k < arity; ++k) {
    compile::Operand& o = k == 0 ? step.a : step.b;
    const IValue& v = d.operands[static_cast<size_t>(k)];
    if (v.is_scalar()) {
      o.kind = compile::Operand::Kind::Immediate;
      o.value = static_cast<float>(v.to_scalar().to_double());
      continue;
    }
    o.kind = compile::Operand::Kind::Input;
    o.index = c.loop.num_inputs++;
    c.inputs.emplace_back(contiguous(to(expand(v.to_tensor(), out_shape), DType::Float32)));
  }
  if (arity == 1) step.b = step.a;
  c.loop.steps.push_back(step);
  c.loop.stores = {0};
  return c;
}
// How many float32 values lie between a and b (0: equal, or both NaN).
int64_t ulps_apart(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : INT64_MAX;
  if (a == b) return 0;
  auto ordered = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, sizeof i);
    return i < 0 ? int64_t{INT32_MIN} - i : int64_t{i};
  };
  return std::abs(ordered(a) - ordered(b));
}
}  // namespace

TEST(Formula, EveryFormulaOpIsPointwiseAndItsFusedLoopAgreesWithItsKernel) {
  std::vector<std::string> problems;
  int checked = 0, with_params = 0;
  for (const OpEntry& e : op_database()) {
    const ops::OpInfo& op = ops::op_info(e.op);
    if (!op.elementwise) continue;
    if (!op.has(ops::OpTag::Pointwise) || op.kind != ops::OpKind::Compute)
      problems.push_back(op.qualified_name() + " declares a formula but is not a Pointwise compute op");
    // The database's calls, and calls with params that are not the defaults (its
    // samples leave alpha at 1 and the threshold at 0).
    std::vector<Sample> samples = e.samples();
    const Tensor x = randn({3, 4}, DType::Float64), y = randn({3, 4}, DType::Float64);
    if (e.op == ops::OpId::add_Tensor || e.op == ops::OpId::sub_Tensor)
      samples.push_back({"alpha -2.5", {x, y, IValue(-2.5)}});
    if (e.op == ops::OpId::threshold_backward) samples.push_back({"threshold 0.3", {x, y, IValue(0.3)}});
    for (const Sample& s : samples) {
      Args args = s.args;
      ops::normalize_args(op, args);
      for (IValue& v : args)
        if (v.is_tensor() && v.to_tensor().is_floating_point()) v = to(v.to_tensor(), DType::Float32);
      compile::Instruction ins;
      ins.op = &op;
      ins.args = args;
      compile::Decoded d;
      if (!compile::decode(ins, d)) continue;  // not this call's form (gelu 'tanh', say)
      if (!(d.params == ops::FormulaParams{})) ++with_params;
      bool all_float = true;
      for (int k = 0; k < ops::formula_arity(op.elementwise->formula); ++k)
        all_float = all_float && (args[static_cast<size_t>(k)].is_scalar() ||
                                  args[static_cast<size_t>(k)].to_tensor().dtype() == DType::Float32);
      if (!all_float) continue;  // the loops are float32
      const Tensor want = ops::flatten_outputs(ops::call(op.id, args))[0];
      LoopCall c = one_step_loop(d, op.name(), want.sizes());
      Tensor got = Tensor::empty(want.sizes(), DType::Float32);
      Outputs outs{IValue(got)};
      c.loop.run(c.inputs, outs);
      ++checked;
      const std::vector<float> a = got.to_vector<float>(), b = contiguous(want).to_vector<float>();
      for (size_t i = 0; i < a.size(); ++i)
        // A few ulps, or (where a formula cancels, as 1 - y * y near |y| = 1 does) a
        // float32 rounding of the terms: 1e-6 relative to 1 + |value|.
        if (ulps_apart(a[i], b[i]) > 4 && !(std::abs(a[i] - b[i]) <= 1e-6f * (1 + std::abs(b[i])))) {
          problems.push_back(fmt::format("{} / {}: element {}: fused {} but the kernel gives {}", op.qualified_name(),
                                         s.label, i, a[i], b[i]));
          break;
        }
    }
  }
  EXPECT_GT(checked, 30);
  EXPECT_GE(with_params, 3);  // alpha and threshold reach the loop
  EXPECT_TRUE(problems.empty()) << fmt::format("{}", fmt::join(problems, "\n"));
}

TEST(Formula, DecodeReadsTheOpsDeclarationAndRejectsOtherCalls) {
  compile::Instruction ins;
  compile::Decoded d;
  ins.op = &ops::op_info(ops::OpId::add_Tensor);
  ins.args = {Tensor::zeros({2}, DType::Float32), Tensor::zeros({2}, DType::Float32), 3};
  ASSERT_TRUE(compile::decode(ins, d));
  EXPECT_EQ(d.formula, ops::Formula::Add);
  EXPECT_EQ(d.params.alpha, 3);
  EXPECT_EQ(d.operands.size(), 2u);
  ins.op = &ops::op_info(ops::OpId::gelu);
  ins.args = {Tensor::zeros({2}, DType::Float32), std::string("tanh")};
  EXPECT_FALSE(compile::decode(ins, d));  // only approximate='none' is the Gelu formula
  ins.args = {Tensor::zeros({2}, DType::Float32), std::string("none")};
  EXPECT_TRUE(compile::decode(ins, d));
  ins.op = &ops::op_info(ops::OpId::log);  // no formula declared: not fused
  ins.args = {Tensor::zeros({2}, DType::Float32)};
  EXPECT_FALSE(compile::decode(ins, d));
}
