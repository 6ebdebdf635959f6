// Evaluating fused elementwise loops (fused_loop.h), and which ops they can evaluate.
#include "compile/fused_loop.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/cpu/formulas.h"
#include "support/error.h"
#include "support/parallel.h"

namespace aotgrad::compile {

namespace {
// Note [Block size]: a loop keeps one block per step (its "registers") besides the
// blocks it reads and stores, all in L1 if it is to stream. AdamW's update (8 passes
// after folding, 4 streams read, 3 stored) at 512 floats a block touches about 30 KiB
// per block, the whole of a 32 KiB L1 (Zen 4), and ran at 55% of DRAM copy bandwidth
// on one core; at 128 floats (about 8 KiB) it runs at 80-95%, still amortising each
// pass's dispatch over eight 16-float vectors (64 floats was slower again). The
// prefetch reaches kPrefetchAhead blocks ahead, 1 KiB per stream.
constexpr int64_t kBlock = 128;
constexpr int64_t kPrefetchAhead = 2;

enum class Load { Scalar, Pointer, Scaled };

// out[i] = f(a[i], b[i]) over one block, for one combination of operand forms.
template <Load A, Load B, typename F>
void loop2(float* out, const BlockOperand& a, const BlockOperand& b, int64_t n, F f) {
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

// Note [One call per step]: which loop a step runs (its formula, and whether each
// operand is a value, a pointer or a scaled pointer) is known once the loop is
// built, so run() picks each step's instantiation once per call and a block costs
// one indirect call per step, not a chain of switches.
using StepKernel = void (*)(float* out, const BlockOperand& a, const BlockOperand& b, int64_t n,
                            const FormulaParams& p);

template <Formula F, Load A, Load B>
void step_kernel(float* out, const BlockOperand& a, const BlockOperand& b, int64_t n, const FormulaParams& p) {
  if constexpr (ops::formula_vectorises_v<F>) {
    auto f = [p](float u, float v) { return ops::cpu::formula::apply<F>(u, v, p); };
    // A whole block (all but a member's last) with its length known when compiled: no
    // remainder loop; AdamW's update with its data in cache ran 5-10% faster.
    if (n == kBlock)
      loop2<A, B>(out, a, b, kBlock, f);
    else
      loop2<A, B>(out, a, b, n, f);
  } else {  // a formula that calls libm: no `omp simd` (clang cannot vectorise the call, and says so)
    auto at = [](const BlockOperand& s, int64_t i) { return s.scalar() ? s.v : s.scaled ? s.p[i] * s.s : s.p[i]; };
    for (int64_t i = 0; i < n; ++i) out[i] = ops::cpu::formula::apply<F>(at(a, i), at(b, i), p);
  }
}

template <Formula F, Load A>
StepKernel kernel_for_b(Load b) {
  switch (b) {
    case Load::Scalar:
      return step_kernel<F, A, Load::Scalar>;
    case Load::Pointer:
      return step_kernel<F, A, Load::Pointer>;
    case Load::Scaled:
      return step_kernel<F, A, Load::Scaled>;
  }
  return nullptr;
}
template <Formula F>
StepKernel kernel_for(Load a, Load b) {
  if constexpr (ops::formula_arity_v<F> == 1) b = a;  // a unary formula reads its operand twice
  switch (a) {
    case Load::Scalar:
      return kernel_for_b<F, Load::Scalar>(b);
    case Load::Pointer:
      return kernel_for_b<F, Load::Pointer>(b);
    case Load::Scaled:
      return kernel_for_b<F, Load::Scaled>(b);
  }
  return nullptr;
}

// How a step reads an operand (Operand::Scale on a single value multiplies it in
// once per block, so it stays a value).
Load load_of(const Operand& o) {
  if (o.kind == Operand::Kind::ScalarInput || o.kind == Operand::Kind::Immediate) return Load::Scalar;
  return o.scale == Operand::Scale::None ? Load::Pointer : Load::Scaled;
}

StepKernel kernel_of(const Step& s) {
  const Load a = load_of(s.a), b = load_of(s.b);
  switch (s.formula) {
#define AG_FORMULA_KERNEL(name, arity, vectorises) \
  case Formula::name:                              \
    return kernel_for<Formula::name>(a, b);
    AG_ELEMENTWISE_FORMULAS(AG_FORMULA_KERNEL)
#undef AG_FORMULA_KERNEL
  }
  return nullptr;
}
}  // namespace

// Note [One formula per elementwise op]: the op's own declaration says whether this
// call is a formula, and which; there is no list of ops here.
bool decode(const Instruction& ins, Decoded& d) {
  if (ins.op == nullptr || !ins.op->elementwise || ins.op->kind != ops::OpKind::Compute) return false;
  const ops::ElementwiseForm& form = *ins.op->elementwise;
  FormulaParams params;
  const auto arity = static_cast<size_t>(ops::formula_arity(form.formula));
  if (ins.args.size() < arity || !form.params(ins.args, params)) return false;
  d.formula = form.formula;
  d.operands.assign(ins.args.begin(), ins.args.begin() + static_cast<std::ptrdiff_t>(arity));
  d.params = params;
  return true;
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
  for (const Step& st : steps) {
    s += fmt::format(" {}({},{},{:a},{:a})", ops::formula_name(st.formula), operand(st.a), operand(st.b),
                     st.params.alpha, st.params.threshold);
    // Bounds only where set (clamp's), so every other loop's signature reads as before.
    const ops::FormulaParams unbounded;
    if (st.params.lower != unbounded.lower || st.params.upper != unbounded.upper)
      s += fmt::format("[{:a},{:a}]", st.params.lower, st.params.upper);
  }
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
  auto binary = [](Formula f) {
    return f == Formula::Add || f == Formula::Sub || f == Formula::Mul || f == Formula::Div;
  };
  std::vector<int> reads(steps.size(), 0);
  for (const Step& st : steps) {
    if (st.a.kind == Operand::Kind::Step) ++reads[static_cast<size_t>(st.a.index)];
    if (st.b.kind == Operand::Kind::Step && !(st.b.index == st.a.index && st.a.kind == Operand::Kind::Step))
      ++reads[static_cast<size_t>(st.b.index)];
  }
  for (int store : stores) reads[static_cast<size_t>(store)] += 2;  // stored: keep it
  std::vector<bool> dead(steps.size(), false);
  for (Step& consumer : steps) {
    if (!binary(consumer.formula)) continue;
    for (Operand* o : {&consumer.a, &consumer.b}) {
      if (o->kind != Operand::Kind::Step || o->scale != Operand::Scale::None) continue;
      const Step& mul = steps[static_cast<size_t>(o->index)];
      if (mul.formula != Formula::Mul || reads[static_cast<size_t>(o->index)] != 1) continue;
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

namespace {
// Note [Prefetching the next block]: after the forward and backward, an optimizer's
// states (and some parameters) are out of the near caches, and each member is too
// short for the hardware prefetcher to ramp up on its four to seven streams. Asking
// for the next block's input lines while this one computes overlaps their latency
// with the arithmetic: measured 10-15% off the update loop of convnet and mlp_large
// (Note [Block size] for how far ahead).
void prefetch_block(int64_t blk, const std::vector<int64_t>& first_block, const std::vector<int64_t>& numel,
                    const std::vector<BlockOperand>& in, int num_inputs) {
  const auto m =
      static_cast<size_t>(std::upper_bound(first_block.begin(), first_block.end(), blk) - first_block.begin()) - 1;
  const int64_t start = (blk - first_block[m]) * kBlock, len = std::min(kBlock, numel[m] - start);
  constexpr int64_t kLine = 64 / sizeof(float);
  for (size_t k = m * static_cast<size_t>(num_inputs); k < (m + 1) * static_cast<size_t>(num_inputs); ++k) {
    if (in[k].numel != numel[m]) continue;  // a single value, read once
    for (int64_t i = 0; i < len; i += kLine) __builtin_prefetch(in[k].p + start + i);
  }
}

// How a step of a member's first block reads operand `o` (`mine`: the member's
// inputs; `regs`: the blocks of the steps).
BlockOperand source(const Operand& o, const BlockOperand* mine, const float* regs) {
  BlockOperand r;
  switch (o.kind) {
    case Operand::Kind::Input:
      r.p = mine[o.index].p;
      break;
    case Operand::Kind::ScalarInput:
      r.v = mine[o.index].v;
      break;
    case Operand::Kind::Immediate:
      r.v = o.value;
      break;
    case Operand::Kind::Step:
      r.p = regs + kBlock * static_cast<size_t>(o.index);
      break;
  }
  if (o.scale == Operand::Scale::None) return r;
  r.s = o.scale == Operand::Scale::Immediate ? o.scale_value : mine[o.scale_index].v;
  if (r.scalar())
    r.v = r.v * r.s;  // rounded once, as the multiply it replaces
  else
    r.scaled = true;
  return r;
}

// Note [Operands once per member]: a block's operands differ from its member's first
// block's only by the block's start in the inputs it reads element by element, so
// they are resolved (kind, scale, single values) when the loop reaches a member, and
// a block adds its start to those that advance. Per block that saves a switch per
// operand; with convnet's 14 short parameters a block's bookkeeping, not its
// arithmetic, was most of the update's time.
void resolve_operands(const std::vector<Step>& steps, const BlockOperand* mine, const float* regs,
                      std::vector<BlockOperand>& operands, std::vector<char>& advances) {
  for (size_t s = 0; s < steps.size(); ++s)
    for (int k = 0; k < 2; ++k) {
      const Operand& o = k == 0 ? steps[s].a : steps[s].b;
      operands[2 * s + static_cast<size_t>(k)] = source(o, mine, regs);
      advances[2 * s + static_cast<size_t>(k)] = o.kind == Operand::Kind::Input;
    }
}

// dst[0:n] = src[0:n] for n <= kBlock, in 8-float vectors where it can: a call to
// memcpy per store and block cost as much as a step.
void copy_block(float* dst, const float* src, int64_t n) {
  using V = float __attribute__((vector_size(32), aligned(4)));
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) *reinterpret_cast<V*>(dst + i) = *reinterpret_cast<const V*>(src + i);
  for (; i < n; ++i) dst[i] = src[i];
}
}  // namespace

std::vector<int64_t> loop_numels(const Args& args, const Outputs& outs) {
  std::vector<int64_t> numels;
  for (const IValue& a : args) numels.push_back(a.to_tensor().numel());
  for (const IValue& o : outs) numels.push_back(o.to_tensor().numel());
  return numels;
}

void FusedLoop::run(const Args& args, Outputs& outs) const {
  std::vector<const void*> in;
  for (const IValue& a : args) in.push_back(a.to_tensor().data_ptr<float>());
  std::vector<void*> out;
  for (const IValue& o : outs) out.push_back(const_cast<Tensor&>(o.to_tensor()).data_ptr<float>());
  run_at(in.data(), out.data(), loop_numels(args, outs));
}

void FusedLoop::run_at(const void* const* args, void* const* outs, const std::vector<int64_t>& numels) const {
  const size_t per_member_out = stores.size();
  // numels: every argument's (each member's num_inputs in turn), then every output's.
  const size_t members = numels.size() / (static_cast<size_t>(num_inputs) + per_member_out);
  const size_t arg_count = members * static_cast<size_t>(num_inputs);
  // Each member's outputs, inputs (pointer, or its single value) and block range.
  std::vector<float*> out(members * per_member_out);
  for (size_t j = 0; j < out.size(); ++j) out[j] = static_cast<float*>(outs[j]);
  std::vector<BlockOperand> in(arg_count);
  for (size_t k = 0; k < arg_count; ++k) {
    in[k].p = static_cast<const float*>(args[k]);
    in[k].numel = numels[k];
    in[k].v = in[k].numel == 1 ? *in[k].p : 0.0f;  // only a single value is read as one
  }
  std::vector<int64_t> numel(members), first_block(members + 1, 0);
  for (size_t m = 0; m < members; ++m) {
    numel[m] = numels[arg_count + m * per_member_out];
    first_block[m + 1] = first_block[m] + (numel[m] + kBlock - 1) / kBlock;
  }
  const int64_t blocks = first_block[members];
  std::vector<StepKernel> kernels(steps.size());
  for (size_t s = 0; s < steps.size(); ++s) kernels[s] = kernel_of(steps[s]);
  parallel_for(blocks, kBlock * static_cast<int64_t>(steps.size()) * 2, [&](int64_t b0, int64_t b1) {
    std::vector<float> regs(static_cast<size_t>(kBlock) * steps.size());
    // The current member's step operands at its element 0 (Note [Operands once per member]).
    std::vector<BlockOperand> operands(2 * steps.size());
    std::vector<char> advances(2 * steps.size());
    size_t m =
        static_cast<size_t>(std::upper_bound(first_block.begin(), first_block.end(), b0) - first_block.begin()) - 1;
    size_t resolved = members;
    for (int64_t blk = b0; blk < b1; ++blk) {
      while (blk >= first_block[m + 1]) ++m;
      if (resolved != m) {
        resolve_operands(steps, in.data() + m * static_cast<size_t>(num_inputs), regs.data(), operands, advances);
        resolved = m;
      }
      const int64_t start = (blk - first_block[m]) * kBlock, len = std::min(kBlock, numel[m] - start);
      if (blk + kPrefetchAhead < b1) prefetch_block(blk + kPrefetchAhead, first_block, numel, in, num_inputs);
      if (straight_line != nullptr) {  // Note [Straight-line loops]
        straight_line(out.data() + m * per_member_out, operands.data(), steps.data(), start, len);
        continue;
      }
      for (size_t s = 0; s < steps.size(); ++s) {
        BlockOperand a = operands[2 * s], b = operands[2 * s + 1];
        if (advances[2 * s]) a.p += start;
        if (advances[2 * s + 1]) b.p += start;
        kernels[s](regs.data() + kBlock * s, a, b, len, steps[s].params);
      }
      // The stores, after every read of this block (a store may be an input's storage).
      for (size_t j = 0; j < per_member_out; ++j)
        copy_block(out[m * per_member_out + j] + start, regs.data() + kBlock * static_cast<size_t>(stores[j]), len);
    }
  });
}

}  // namespace aotgrad::compile
