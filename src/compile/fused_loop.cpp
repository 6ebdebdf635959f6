// Evaluating fused elementwise loops (fused_loop.h), and which ops they can evaluate.
#include "compile/fused_loop.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/cpu/fast_math.h"
#include "support/error.h"
#include "support/parallel.h"

namespace aotgrad::compile {

using ops::OpId;

namespace {
constexpr int64_t kBlock = 512;

// One operand of a block: a pointer read element by element, or one value.
struct Src {
  const float* p = nullptr;
  float v = 0;
  bool scalar() const { return p == nullptr; }
};

// out[i] = f(a[i], b[i]) over one block, with either operand possibly a scalar.
template <typename F>
inline void block2(float* out, Src a, Src b, int64_t n, F f) {
  if (!a.scalar() && !b.scalar()) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = f(a.p[i], b.p[i]);
  } else if (!a.scalar()) {
    const float y = b.v;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = f(a.p[i], y);
  } else if (!b.scalar()) {
    const float x = a.v;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) out[i] = f(x, b.p[i]);
  } else {
    const float r = f(a.v, b.v);
    std::fill(out, out + n, r);
  }
}

void run_step(const Step& s, float* out, Src x, Src y, int64_t n) {
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
    case Code::Tanh:  // a libm call: no `omp simd` (clang cannot vectorise it and says so)
      for (int64_t i = 0; i < n; ++i) out[i] = std::tanh(x.scalar() ? x.v : x.p[i]);
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
}  // namespace

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

std::string FusedLoop::signature() const {
  std::string s = fmt::format("in{} st{}", num_inputs, fmt::join(stores, ","));
  auto operand = [](const Operand& o) {
    switch (o.kind) {
      case Operand::Kind::Input:
        return fmt::format("i{}", o.index);
      case Operand::Kind::ScalarInput:
        return fmt::format("s{}", o.index);
      case Operand::Kind::Immediate:
        return fmt::format("#{:a}", o.value);
      case Operand::Kind::Step:
        return fmt::format("r{}", o.index);
    }
    return std::string("?");
  };
  for (const Step& st : steps)
    s += fmt::format(" {}({},{},{:a},{:a})", static_cast<int>(st.code), operand(st.a), operand(st.b), st.alpha,
                     st.threshold);
  return s;
}

void FusedLoop::run(const Args& args, Outputs& outs) const {
  const size_t per_member_out = stores.size();
  const size_t members = outs.size() / per_member_out;
  // Each member's outputs, inputs (pointer, or its single value) and block range.
  std::vector<float*> out(outs.size());
  for (size_t j = 0; j < outs.size(); ++j) out[j] = const_cast<Tensor&>(outs[j].to_tensor()).data_ptr<float>();
  std::vector<Src> in(args.size());
  for (size_t k = 0; k < args.size(); ++k) {
    const Tensor& t = args[k].to_tensor();
    in[k].p = t.data_ptr<float>();
    in[k].v = t.numel() >= 1 ? *in[k].p : 0.0f;
  }
  std::vector<int64_t> numel(members), first_block(members + 1, 0);
  for (size_t m = 0; m < members; ++m) {
    numel[m] = outs[m * per_member_out].to_tensor().numel();
    first_block[m + 1] = first_block[m] + (numel[m] + kBlock - 1) / kBlock;
  }
  const int64_t blocks = first_block[members];
  parallel_for(blocks, kBlock * static_cast<int64_t>(steps.size()) * 2, [&](int64_t b0, int64_t b1) {
    std::vector<float> regs(static_cast<size_t>(kBlock) * steps.size());
    size_t m =
        static_cast<size_t>(std::upper_bound(first_block.begin(), first_block.end(), b0) - first_block.begin()) - 1;
    for (int64_t blk = b0; blk < b1; ++blk) {
      while (blk >= first_block[m + 1]) ++m;
      const int64_t start = (blk - first_block[m]) * kBlock, len = std::min(kBlock, numel[m] - start);
      const Src* mine = in.data() + m * static_cast<size_t>(num_inputs);
      for (size_t s = 0; s < steps.size(); ++s) {
        auto src = [&](const Operand& o) -> Src {
          switch (o.kind) {
            case Operand::Kind::Input:
              return {mine[o.index].p + start, 0};
            case Operand::Kind::ScalarInput:
              return {nullptr, mine[o.index].v};
            case Operand::Kind::Immediate:
              return {nullptr, o.value};
            case Operand::Kind::Step:
              return {regs.data() + kBlock * static_cast<size_t>(o.index), 0};
          }
          return {};
        };
        run_step(steps[s], regs.data() + kBlock * s, src(steps[s].a), src(steps[s].b), len);
      }
      // The stores, after every read of this block (a store may be an input's storage).
      for (size_t j = 0; j < per_member_out; ++j)
        std::memcpy(out[m * per_member_out + j] + start, regs.data() + kBlock * static_cast<size_t>(stores[j]),
                    static_cast<size_t>(len) * sizeof(float));
    }
  });
}

}  // namespace aotgrad::compile
