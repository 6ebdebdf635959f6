// Fusing chains of float32 elementwise ops into one blocked loop.
//
// A chain link is a value made by one elementwise instruction and read by exactly
// one other elementwise instruction (and nothing else, and not returned). Its
// producer then runs inside the consumer's loop: the value lives in a block-sized
// register and is never written to memory. The fused loop walks the output in
// blocks of kBlock floats; each step of the group computes its block from input
// blocks, scalars and earlier steps' registers with a loop the compiler
// vectorises. Operands must be float32 and either the output's size (read flat, so
// any contiguous tensor) or a single element; anything else keeps the op unfused.
#include "compile/fusion.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "ops/cpu/fast_math.h"
#include "support/parallel.h"

namespace aotgrad::compile {

using ops::OpId;

namespace {
constexpr int64_t kBlock = 512;

enum class Code {
  Add,
  Sub,
  Mul,
  Div,
  Neg,
  Exp,
  Relu,
  Sigmoid,
  Tanh,
  Sqrt,
  Rsqrt,
  Reciprocal,
  Square,
  Gelu,
  GeluBackward,
  ThresholdBackward,
  SigmoidBackward,
  TanhBackward
};

// An operand of a step: an input block, a scalar input, an immediate, or an earlier step.
struct Operand {
  enum class Kind { Input, ScalarInput, Immediate, Step } kind = Kind::Immediate;
  int index = 0;
  float value = 0;
};

struct Step {
  Code code;
  Operand a, b;
  float alpha = 1, threshold = 0;
  std::string name;
};

struct FusedLoop {
  std::vector<Step> steps;  // the last one is the output
  int num_inputs = 0;
  void run(const Args& args, Outputs& outs) const;
};

// The instruction's tensor and scalar operands as fusion sees them, or false.
struct Decoded {
  Code code;
  std::vector<IValue> operands;  // tensors or numbers, in order
  float alpha = 1, threshold = 0;
};

bool decode(const Instruction& ins, Decoded& d) {
  if (ins.op == nullptr || !ins.op->has(ops::OpTag::Pointwise) || ins.op->kind != ops::OpKind::Compute) return false;
  const Args& a = ins.args;
  auto two = [&](Code c) {
    d.code = c;
    d.operands = {a[0], a[1]};
    return true;
  };
  auto one = [&](Code c) {
    d.code = c;
    d.operands = {a[0]};
    return true;
  };
  switch (ins.op->id) {
    case OpId::add_Tensor:
    case OpId::add_Scalar:
    case OpId::sub_Tensor:
    case OpId::sub_Scalar:
      if (!a[2].is_scalar()) return false;
      d.alpha = static_cast<float>(a[2].to_scalar().to_double());
      return two(ins.op->id == OpId::add_Tensor || ins.op->id == OpId::add_Scalar ? Code::Add : Code::Sub);
    case OpId::prims_add:
      return two(Code::Add);
    case OpId::prims_sub:
      return two(Code::Sub);
    case OpId::mul_Tensor:
    case OpId::mul_Scalar:
    case OpId::prims_mul:
      return two(Code::Mul);
    case OpId::div_Tensor:
    case OpId::div_Scalar:
    case OpId::prims_div:
      return two(Code::Div);
    case OpId::neg:
    case OpId::prims_neg:
      return one(Code::Neg);
    case OpId::exp:
    case OpId::prims_exp:
      return one(Code::Exp);
    case OpId::relu:
      return one(Code::Relu);
    case OpId::sigmoid:
      return one(Code::Sigmoid);
    case OpId::tanh:
    case OpId::prims_tanh:
      return one(Code::Tanh);
    case OpId::sqrt:
    case OpId::prims_sqrt:
      return one(Code::Sqrt);
    case OpId::rsqrt:
    case OpId::prims_rsqrt:
      return one(Code::Rsqrt);
    case OpId::reciprocal:
    case OpId::prims_reciprocal:
      return one(Code::Reciprocal);
    case OpId::pow_Tensor_Scalar:
      if (!a[1].is_scalar() || a[1].to_scalar().to_double() != 2) return false;
      return one(Code::Square);
    case OpId::gelu:
      if (a[1].to_string() != "none") return false;
      return one(Code::Gelu);
    case OpId::gelu_backward:
      if (a[2].to_string() != "none") return false;
      return two(Code::GeluBackward);
    case OpId::threshold_backward:
      d.threshold = static_cast<float>(a[2].to_scalar().to_double());
      return two(Code::ThresholdBackward);
    case OpId::sigmoid_backward:
      return two(Code::SigmoidBackward);
    case OpId::tanh_backward:
      return two(Code::TanhBackward);
    default:
      return false;
  }
}

// out[i] = f(x[i], y[i]) over one block.
template <typename F>
inline void block2(float* out, const float* x, const float* y, int64_t n, F f) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = f(x[i], y[i]);
}

void run_step(const Step& s, float* out, const float* x, const float* y, int64_t n) {
  const float alpha = s.alpha, th = s.threshold;
  switch (s.code) {
    case Code::Add:
      block2(out, x, y, n, [alpha](float u, float v) { return u + alpha * v; });
      break;
    case Code::Sub:
      block2(out, x, y, n, [alpha](float u, float v) { return u - alpha * v; });
      break;
    case Code::Mul:
      block2(out, x, y, n, [](float u, float v) { return u * v; });
      break;
    case Code::Div:
      block2(out, x, y, n, [](float u, float v) { return u / v; });
      break;
    case Code::Neg:
      block2(out, x, x, n, [](float u, float) { return -u; });
      break;
    case Code::Exp:
      block2(out, x, x, n, [](float u, float) { return ops::cpu::fast::exp(u); });
      break;
    case Code::Relu:
      block2(out, x, x, n, [](float u, float) { return u < 0 ? 0.0f : u; });  // NaN stays NaN
      break;
    case Code::Sigmoid:
      block2(out, x, x, n, [](float u, float) { return 1 / (1 + ops::cpu::fast::exp(-u)); });
      break;
    case Code::Tanh:
      for (int64_t i = 0; i < n; ++i) out[i] = std::tanh(x[i]);
      break;
    case Code::Sqrt:
      block2(out, x, x, n, [](float u, float) { return std::sqrt(u); });
      break;
    case Code::Rsqrt:
      block2(out, x, x, n, [](float u, float) { return 1 / std::sqrt(u); });
      break;
    case Code::Reciprocal:
      block2(out, x, x, n, [](float u, float) { return 1 / u; });
      break;
    case Code::Square:
      block2(out, x, x, n, [](float u, float) { return u * u; });
      break;
    case Code::Gelu:
      block2(out, x, x, n, [](float u, float) { return ops::cpu::fast::gelu(u); });
      break;
    case Code::GeluBackward:
      block2(out, x, y, n, [](float g, float u) { return g * ops::cpu::fast::gelu_grad(u); });
      break;
    case Code::ThresholdBackward:
      block2(out, x, y, n, [th](float g, float u) { return u <= th ? 0.0f : g; });
      break;
    case Code::SigmoidBackward:
      block2(out, x, y, n, [](float g, float v) { return g * (1 - v) * v; });
      break;
    case Code::TanhBackward:
      block2(out, x, y, n, [](float g, float v) { return g * (1 - v * v); });
      break;
  }
}

void FusedLoop::run(const Args& args, Outputs& outs) const {
  Tensor& out = const_cast<Tensor&>(outs[0].to_tensor());
  float* po = out.data_ptr<float>();
  const int64_t n = out.numel();
  std::vector<const float*> in(static_cast<size_t>(num_inputs));
  std::vector<float> scalar(static_cast<size_t>(num_inputs));
  for (int k = 0; k < num_inputs; ++k) {
    const Tensor& t = args[static_cast<size_t>(k)].to_tensor();
    in[static_cast<size_t>(k)] = t.data_ptr<float>();
    scalar[static_cast<size_t>(k)] = t.numel() == 1 ? *t.data_ptr<float>() : 0.0f;
  }
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  parallel_for(blocks, kBlock * static_cast<int64_t>(steps.size()) * 2, [&](int64_t b0, int64_t b1) {
    // Registers: one block per step, plus one constant block per broadcast operand.
    std::vector<float> regs(static_cast<size_t>(kBlock) * (steps.size() + 2 * steps.size()));
    float* consts = regs.data() + kBlock * steps.size();
    auto constant_block = [&](size_t slot, float v) {
      float* c = consts + kBlock * slot;
      std::fill(c, c + kBlock, v);
      return c;
    };
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t start = blk * kBlock, len = std::min(kBlock, n - start);
      for (size_t s = 0; s < steps.size(); ++s) {
        const Step& st = steps[s];
        auto ptr = [&](const Operand& o, size_t slot) -> const float* {
          switch (o.kind) {
            case Operand::Kind::Input:
              return in[static_cast<size_t>(o.index)] + start;
            case Operand::Kind::ScalarInput:
              return constant_block(2 * s + slot, scalar[static_cast<size_t>(o.index)]);
            case Operand::Kind::Immediate:
              return constant_block(2 * s + slot, o.value);
            case Operand::Kind::Step:
              return regs.data() + kBlock * static_cast<size_t>(o.index);
          }
          return nullptr;
        };
        const float* x = ptr(st.a, 0);
        const float* y = ptr(st.b, 1);
        float* dst = s + 1 == steps.size() ? po + start : regs.data() + kBlock * s;
        run_step(st, dst, x, y, len);
      }
    }
  });
}
}  // namespace

FusionStats fuse_pointwise_chains(std::vector<Value>& values, std::vector<Instruction>& instructions,
                                  std::vector<std::vector<int>>& operands, const std::vector<int>& outputs) {
  FusionStats stats;
  // Writes into inputs (copy_) would make moving a producer later unsafe.
  for (const Instruction& ins : instructions)
    if (ins.op != nullptr && ins.op->kind == ops::OpKind::InPlace) return stats;
  std::vector<int> reads(values.size(), 0);
  for (const auto& ops_of : operands)
    for (int v : ops_of) ++reads[static_cast<size_t>(v)];
  for (int v : outputs)
    if (v >= 0) reads[static_cast<size_t>(v)] += 2;  // never fused away

  const size_t count = instructions.size();
  std::vector<Decoded> decoded(count);
  std::vector<bool> fusible(count, false);
  std::vector<int> producer(values.size(), -1);
  auto is_f32 = [&](int v) { return values[static_cast<size_t>(v)].layout.dtype == DType::Float32; };
  for (size_t i = 0; i < count; ++i) {
    const Instruction& ins = instructions[i];
    for (int r : ins.results)
      if (r >= 0) producer[static_cast<size_t>(r)] = static_cast<int>(i);
    if (!decode(ins, decoded[i]) || ins.results.size() != 1 || ins.results[0] < 0 || !is_f32(ins.results[0])) continue;
    const int64_t n = shape_numel(values[static_cast<size_t>(ins.results[0])].layout.sizes);
    bool ok = true;
    for (const IValue& o : decoded[i].operands) {
      if (o.is_scalar()) continue;
      if (!o.is_tensor() || !o.to_tensor().defined() || o.to_tensor().dtype() != DType::Float32)
        ok = false;
      else if (o.to_tensor().numel() != n && o.to_tensor().numel() != 1)
        ok = false;
      else if (o.to_tensor().numel() == n && !o.to_tensor().is_contiguous())
        ok = false;
    }
    fusible[i] = ok;
  }
  // Which operand value each tensor operand of instruction i is, in order.
  auto operand_values = [&](size_t i) {
    std::vector<int> ids;
    for (const auto& p : instructions[i].patches) ids.push_back(p.value);
    return ids;
  };
  // group_of[i]: the instruction whose loop runs i (itself if unfused).
  std::vector<int> group_of(count);
  for (size_t i = 0; i < count; ++i) group_of[i] = static_cast<int>(i);
  std::vector<std::vector<int>> members(count);
  for (size_t i = 0; i < count; ++i) members[i] = {static_cast<int>(i)};
  for (size_t c = 0; c < count; ++c) {
    if (!fusible[c]) continue;
    for (int v : operand_values(c)) {
      const int p = producer[static_cast<size_t>(v)];
      if (p < 0 || !fusible[static_cast<size_t>(p)] || reads[static_cast<size_t>(v)] != 1 ||
          values[static_cast<size_t>(v)].kind != ValueKind::Arena || group_of[static_cast<size_t>(p)] != p)
        continue;
      // Absorb p's group (it runs inside c's loop from now on).
      for (int m : members[static_cast<size_t>(p)]) group_of[static_cast<size_t>(m)] = static_cast<int>(c);
      auto& mc = members[c];
      mc.insert(mc.end(), members[static_cast<size_t>(p)].begin(), members[static_cast<size_t>(p)].end());
      members[static_cast<size_t>(p)].clear();
    }
  }

  std::vector<Instruction> out_ins;
  std::vector<std::vector<int>> out_ops;
  for (size_t c = 0; c < count; ++c) {
    if (group_of[c] != static_cast<int>(c)) continue;  // runs inside a later loop
    if (members[c].size() < 2) {
      out_ins.push_back(std::move(instructions[c]));
      out_ops.push_back(std::move(operands[c]));
      continue;
    }
    std::vector<int> order = members[c];
    std::sort(order.begin(), order.end());  // schedule order: producers first
    auto loop = std::make_shared<FusedLoop>();
    std::vector<int> inputs;  // external values, by input index
    std::vector<int> step_of_value(values.size(), -1);
    std::string label = "fused[";
    for (int m : order) {
      const Instruction& ins = instructions[static_cast<size_t>(m)];
      const Decoded& d = decoded[static_cast<size_t>(m)];
      Step st{d.code, {}, {}, d.alpha, d.threshold, ins.op->name()};
      std::vector<int> ids = operand_values(static_cast<size_t>(m));
      size_t next_id = 0;
      for (size_t k = 0; k < d.operands.size() && k < 2; ++k) {
        Operand o;
        const IValue& iv = d.operands[k];
        if (iv.is_scalar()) {
          o.kind = Operand::Kind::Immediate;
          o.value = static_cast<float>(iv.to_scalar().to_double());
        } else {
          const int v = ids.at(next_id++);
          if (step_of_value[static_cast<size_t>(v)] >= 0) {
            o.kind = Operand::Kind::Step;
            o.index = step_of_value[static_cast<size_t>(v)];
          } else {
            auto it = std::find(inputs.begin(), inputs.end(), v);
            const int idx = static_cast<int>(it - inputs.begin());
            if (it == inputs.end()) inputs.push_back(v);
            const bool scalar = shape_numel(values[static_cast<size_t>(v)].layout.sizes) == 1 &&
                                shape_numel(values[static_cast<size_t>(ins.results[0])].layout.sizes) != 1;
            o.kind = scalar ? Operand::Kind::ScalarInput : Operand::Kind::Input;
            o.index = idx;
          }
        }
        (k == 0 ? st.a : st.b) = o;
      }
      if (d.operands.size() == 1) st.b = st.a;
      step_of_value[static_cast<size_t>(ins.results[0])] = static_cast<int>(loop->steps.size());
      loop->steps.push_back(st);
      label += (loop->steps.size() > 1 ? ", " : "") + ins.op->name();
    }
    loop->num_inputs = static_cast<int>(inputs.size());
    Instruction fused;
    fused.node = instructions[static_cast<size_t>(order.front())].node;
    fused.label = label + "]";
    const Instruction& root = instructions[c];
    for (int v : inputs) {
      fused.patches.push_back({static_cast<int>(fused.args.size()), -1, v});
      const graph::TensorVal& l = values[static_cast<size_t>(v)].layout;
      fused.args.emplace_back(Tensor::meta(l.sizes, l.dtype, l.strides, l.offset));
    }
    fused.outs = {root.outs[0]};
    fused.results = root.results;
    fused.result_slots = {{0, -1}};
    fused.kernel = [loop](const Args& a, Outputs& o) { loop->run(a, o); };
    out_ins.push_back(std::move(fused));
    out_ops.push_back(inputs);
    ++stats.groups;
    stats.ops += static_cast<int64_t>(order.size());
  }
  instructions = std::move(out_ins);
  operands = std::move(out_ops);
  return stats;
}

}  // namespace aotgrad::compile
