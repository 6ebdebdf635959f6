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

// One operand of a block: a pointer read element by element (times `s` when
// scaled), or one value.
struct Src {
  const float* p = nullptr;
  float v = 0;
  bool scaled = false;
  float s = 1;
  bool scalar() const { return p == nullptr; }
};

enum class Load { Scalar, Pointer, Scaled };

// out[i] = f(a[i], b[i]) over one block, for one combination of operand forms.
template <Load A, Load B, typename F>
void loop2(float* out, const Src& a, const Src& b, int64_t n, F f) {
  const float* ap = a.p;
  const float* bp = b.p;
  const float av = a.v, bv = b.v, as = a.s, bs = b.s;
  if constexpr (A == Load::Scalar && B == Load::Scalar) {
    std::fill(out, out + n, f(av, bv));  // one value for the whole block
    return;
  }
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    float x, y;
    if constexpr (A == Load::Scalar)
      x = av;
    else if constexpr (A == Load::Pointer)
      x = ap[i];
    else
      x = ap[i] * as;
    if constexpr (B == Load::Scalar)
      y = bv;
    else if constexpr (B == Load::Pointer)
      y = bp[i];
    else
      y = bp[i] * bs;
    out[i] = f(x, y);
  }
}

Load load_of(const Src& s) {
  return s.scalar() ? Load::Scalar : s.scaled ? Load::Scaled : Load::Pointer;
}

template <Load A, typename F>
void loop2_b(float* out, const Src& a, const Src& b, int64_t n, F f) {
  switch (load_of(b)) {
    case Load::Scalar:
      return loop2<A, Load::Scalar>(out, a, b, n, f);
    case Load::Pointer:
      return loop2<A, Load::Pointer>(out, a, b, n, f);
    case Load::Scaled:
      return loop2<A, Load::Scaled>(out, a, b, n, f);
  }
}

template <typename F>
void block2(float* out, const Src& a, const Src& b, int64_t n, F f) {
  switch (load_of(a)) {
    case Load::Scalar:
      return loop2_b<Load::Scalar>(out, a, b, n, f);
    case Load::Pointer:
      return loop2_b<Load::Pointer>(out, a, b, n, f);
    case Load::Scaled:
      return loop2_b<Load::Scaled>(out, a, b, n, f);
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
      for (int64_t i = 0; i < n; ++i) out[i] = std::tanh(x.scalar() ? x.v : x.scaled ? x.p[i] * x.s : x.p[i]);
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
  auto operand = [](const Operand& o) {
    std::string text;
    switch (o.kind) {
      case Operand::Kind::Input:
        text = fmt::format("i{}", o.index);
        break;
      case Operand::Kind::ScalarInput:
        text = fmt::format("s{}", o.index);
        break;
      case Operand::Kind::Immediate:
        text = fmt::format("#{:a}", o.value);
        break;
      case Operand::Kind::Step:
        text = fmt::format("r{}", o.index);
        break;
    }
    if (o.scale == Operand::Scale::Immediate) text += fmt::format("*#{:a}", o.scale_value);
    if (o.scale == Operand::Scale::ScalarInput) text += fmt::format("*s{}", o.scale_index);
    return text;
  };
  std::string s = fmt::format("in{} st{}", num_inputs, fmt::join(stores, ","));
  for (const Step& st : steps)
    s += fmt::format(" {}({},{},{:a},{:a})", static_cast<int>(st.code), operand(st.a), operand(st.b), st.alpha,
                     st.threshold);
  return s;
}

// Note [Fewer passes]: a loop evaluates one step at a time over a block, so each step
// costs a load and a store per element however cheap its arithmetic; an optimizer's
// update is mostly multiplies by scalars (m * beta1, g * (1 - beta1), p * (1 - lr wd)).
// A multiply by a scalar that only one binary arithmetic step reads, and that is not
// stored, becomes a scale on that step's operand: the product is still rounded to
// float before the consumer uses it, so the results are those of the unfolded loop.
int FusedLoop::fold_scalar_multiplies() {
  auto is_scalar = [](const Operand& o) {
    return o.scale == Operand::Scale::None &&
           (o.kind == Operand::Kind::Immediate || o.kind == Operand::Kind::ScalarInput);
  };
  auto binary = [](Code c) { return c == Code::Add || c == Code::Sub || c == Code::Mul || c == Code::Div; };
  std::vector<int> reads(steps.size(), 0);
  for (const Step& st : steps) {
    if (st.a.kind == Operand::Kind::Step) ++reads[static_cast<size_t>(st.a.index)];
    if (st.b.kind == Operand::Kind::Step && !(st.b.index == st.a.index && st.a.kind == Operand::Kind::Step))
      ++reads[static_cast<size_t>(st.b.index)];
  }
  for (int store : stores) reads[static_cast<size_t>(store)] += 2;  // stored: keep it
  std::vector<bool> dead(steps.size(), false);
  for (Step& consumer : steps) {
    if (!binary(consumer.code)) continue;
    for (Operand* o : {&consumer.a, &consumer.b}) {
      if (o->kind != Operand::Kind::Step || o->scale != Operand::Scale::None) continue;
      const Step& mul = steps[static_cast<size_t>(o->index)];
      if (mul.code != Code::Mul || reads[static_cast<size_t>(o->index)] != 1) continue;
      const bool scalar_b = is_scalar(mul.b), scalar_a = is_scalar(mul.a);
      if (!scalar_a && !scalar_b) continue;
      const Operand& x = scalar_b ? mul.a : mul.b;
      const Operand& k = scalar_b ? mul.b : mul.a;
      if (x.scale != Operand::Scale::None) continue;
      const int folded = o->index;
      *o = x;
      o->scale = k.kind == Operand::Kind::Immediate ? Operand::Scale::Immediate : Operand::Scale::ScalarInput;
      o->scale_value = k.value;
      o->scale_index = k.index;
      dead[static_cast<size_t>(folded)] = true;
    }
  }
  // Drop the folded steps; renumber the rest.
  std::vector<int> new_index(steps.size(), -1);
  std::vector<Step> kept;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (dead[i]) continue;
    new_index[i] = static_cast<int>(kept.size());
    kept.push_back(steps[i]);
  }
  for (Step& st : kept)
    for (Operand* o : {&st.a, &st.b})
      if (o->kind == Operand::Kind::Step) o->index = new_index[static_cast<size_t>(o->index)];
  for (int& store : stores) store = new_index[static_cast<size_t>(store)];
  const int removed = static_cast<int>(steps.size() - kept.size());
  steps = std::move(kept);
  return removed;
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
          Src r;
          switch (o.kind) {
            case Operand::Kind::Input:
              r.p = mine[o.index].p + start;
              break;
            case Operand::Kind::ScalarInput:
              r.v = mine[o.index].v;
              break;
            case Operand::Kind::Immediate:
              r.v = o.value;
              break;
            case Operand::Kind::Step:
              r.p = regs.data() + kBlock * static_cast<size_t>(o.index);
              break;
          }
          if (o.scale == Operand::Scale::None) return r;
          r.s = o.scale == Operand::Scale::Immediate ? o.scale_value : mine[o.scale_index].v;
          if (r.scalar())
            r.v = r.v * r.s;  // rounded once, as the multiply it replaces
          else
            r.scaled = true;
          return r;
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
