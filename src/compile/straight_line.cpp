// Note [Straight-line loops]: a fused loop interprets its steps one at a time over a
// block (fused_loop.cpp), so each step stores its block and the next loads it back,
// and a step that waits on the divider (AdamW's sqrt and two divides) leaves the
// load and store units idle while the cheap steps after it cannot start. An optimizer
// update's steps, evaluated per element in registers, run about three times faster:
// convnet's AdamW loop took 34 µs with its data in cache as 8 passes and 11 µs as
// one straight-line loop over the same 30k elements (AMD Zen 4, one core).
//
// C++ cannot build such a loop at run time, so the build compiles one per loop shape
// in kShapes below: the shapes of the built-in optimizers' updates (SGD, Adam, AdamW
// and their variants; tests/train_step/train_step_test.cpp fails, printing the shape
// to add, if an optimizer's update loop has none), and of the activations ONNX models
// decompose into (HardSwish and HardSigmoid: mobilenet_v3_small's 28 such loops took
// 180 us of its forward as 2-3 passes a block, 92 straight-line; Zen 5, one core;
// tests/compile/compile_test.cpp checks their bits). A shape fixes only the structure
// (formulas, operand forms, stores); the numbers come from the loop's steps at run
// time, so any learning rate or beta shares the kernel. Every step rounds to float as
// the interpreted step does (this file, like fused_loop.cpp, is compiled without
// multiply-add contraction), so the two give the same bits.
#include "compile/straight_line.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <string_view>
#include <utility>

#include "ops/cpu/formulas.h"
#include "support/error.h"

namespace aotgrad::compile {

namespace {
constexpr int kMaxSteps = 16, kMaxStores = 8;

struct OperandShape {
  enum Kind : uint8_t { Value, Pointer, Scaled, Step, ScaledStep } kind = Value;
  int step = 0;
};
struct StepShape {
  Formula formula = Formula::Identity;
  OperandShape a, b;
};
struct LoopShape {
  std::array<StepShape, kMaxSteps> steps{};
  int num_steps = 0;
  std::array<int, kMaxStores> stores{};
  int num_stores = 0;
};

// A shape's text as a template argument.
template <size_t N>
struct ShapeText {
  char text[N]{};
  constexpr ShapeText(const char (&s)[N]) { std::copy_n(s, N, text); }  // NOLINT: implicit, for "..." arguments
  constexpr std::string_view view() const { return {text, N - 1}; }
};

// Parsing at compile time: a malformed shape in kShapes is a compile error (a throw
// in a constant expression).
constexpr Formula formula_named(std::string_view name) {
  for (size_t i = 0; i < std::size(ops::kFormulas); ++i)
    if (name == ops::kFormulas[i].name) return static_cast<Formula>(i);
  throw "a shape names a formula AG_ELEMENTWISE_FORMULAS does not have";
}
constexpr int parse_index(std::string_view s, size_t& i) {
  int v = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) v = v * 10 + (s[i] - '0');
  return v;
}
constexpr OperandShape parse_operand(std::string_view s, size_t& i) {
  OperandShape o;
  const char c = s[i++];
  const bool scaled = [&] {
    if (c == 'r') o.step = parse_index(s, i);
    if (i < s.size() && s[i] == '*') return ++i, true;
    return false;
  }();
  if (c == 'v' && !scaled)
    o.kind = OperandShape::Value;
  else if (c == 'p')
    o.kind = scaled ? OperandShape::Scaled : OperandShape::Pointer;
  else if (c == 'r')
    o.kind = scaled ? OperandShape::ScaledStep : OperandShape::Step;
  else
    throw "a shape's operand is not v, p, p*, rN or rN*";
  return o;
}
constexpr LoopShape parse_shape(std::string_view s) {
  LoopShape l;
  size_t i = 0;
  auto skip_spaces = [&] {
    while (i < s.size() && s[i] == ' ') ++i;
  };
  for (skip_spaces(); i < s.size() && s[i] != '-'; skip_spaces()) {
    const size_t open = s.find('(', i);
    StepShape st;
    st.formula = formula_named(s.substr(i, open - i));
    if (!ops::formula_info(st.formula).vectorises) throw "a straight-line shape must vectorise";
    i = open + 1;
    st.a = parse_operand(s, i);
    if (s[i++] != ',') throw "a shape's step is not F(a,b)";
    st.b = parse_operand(s, i);
    if (s[i++] != ')') throw "a shape's step is not F(a,b)";
    if (l.num_steps == kMaxSteps) throw "a shape has more steps than kMaxSteps";
    l.steps[static_cast<size_t>(l.num_steps++)] = st;
  }
  if (s.substr(i, 2) != "->") throw "a shape's stores follow ->";
  for (i += 2, skip_spaces(); i < s.size(); skip_spaces()) {
    if (s[i++] != 'r' || l.num_stores == kMaxStores) throw "a shape's stores are rN, at most kMaxStores";
    l.stores[static_cast<size_t>(l.num_stores++)] = parse_index(s, i);
  }
  return l;
}

template <ShapeText S>
struct Kernel {
  static constexpr LoopShape kShape = parse_shape(S.view());
  static constexpr size_t kSteps = static_cast<size_t>(kShape.num_steps);
  static constexpr size_t kStores = static_cast<size_t>(kShape.num_stores);

  static constexpr OperandShape operand_shape(size_t k) {
    return k % 2 == 0 ? kShape.steps[k / 2].a : kShape.steps[k / 2].b;
  }
  // Everything a member's elements read besides their data, as locals the compiler
  // keeps in registers: per operand its pointer (at `start`), value and scale.
  struct Operands {
    const float* p[2 * kSteps];
    float v[2 * kSteps];
    float s[2 * kSteps];
    FormulaParams params[kSteps];
  };

  template <size_t K>
  [[gnu::always_inline]] static float read(const Operands& o, const float* r, int64_t i) {
    constexpr OperandShape shape = operand_shape(K);
    if constexpr (shape.kind == OperandShape::Value)
      return o.v[K];
    else if constexpr (shape.kind == OperandShape::Pointer)
      return o.p[K][i];
    else if constexpr (shape.kind == OperandShape::Scaled)
      return o.p[K][i] * o.s[K];
    else if constexpr (shape.kind == OperandShape::Step)
      return r[shape.step];
    else
      return r[shape.step] * o.s[K];
  }

  template <size_t... I, size_t... J>
  [[gnu::always_inline]] static void element(const Operands& o, float* const* out, int64_t i,
                                             std::index_sequence<I...> /*steps*/,
                                             std::index_sequence<J...> /*stores*/) {
    float r[kSteps];
    ((r[I] = ops::cpu::formula::apply<kShape.steps[I].formula>(read<2 * I>(o, r, i), read<2 * I + 1>(o, r, i),
                                                               o.params[I])),
     ...);
    ((out[J][i] = r[kShape.stores[J]]), ...);
  }

  static void run(float* const* stores, const BlockOperand* operands, const Step* steps, int64_t start, int64_t n) {
    Operands o;
    for (size_t k = 0; k < 2 * kSteps; ++k) {
      const OperandShape shape = operand_shape(k);
      const bool reads_data = shape.kind == OperandShape::Pointer || shape.kind == OperandShape::Scaled;
      o.p[k] = reads_data ? operands[k].p + start : nullptr;
      o.v[k] = operands[k].v;
      o.s[k] = operands[k].s;
    }
    for (size_t s = 0; s < kSteps; ++s) o.params[s] = steps[s].params;
    float* out[kStores];
    for (size_t j = 0; j < kStores; ++j) out[j] = stores[j] + start;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i)
      element(o, out, i, std::make_index_sequence<kSteps>{}, std::make_index_sequence<kStores>{});
  }
};

struct Entry {
  std::string_view shape;
  StraightLineKernel kernel;
};
template <ShapeText S>
constexpr Entry entry() {
  return {S.view(), &Kernel<S>::run};
}

// The built-in optimizers' update loops, as loop_shape() prints them ("clipped": with
// clip_grad_norm_'s coefficient multiplied into the gradient first).
constexpr Entry kShapes[] = {
    // SGD
    entry<"Add(p,p*) -> r0">(),                                                 // plain
    entry<"Mul(p*,v) Add(p,r0) -> r1">(),                                       // plain, clipped
    entry<"Add(p,p*) Add(p,r0*) -> r1">(),                                      // weight decay
    entry<"Add(p*,p*) Add(p,r0*) -> r1">(),                                     // weight decay, clipped
    entry<"Add(p*,p) Add(p,r0*) -> r0 r1">(),                                   // momentum
    entry<"Add(p*,p*) Add(p,r0*) -> r0 r1">(),                                  // momentum clipped; or dampening
    entry<"Mul(p*,v) Add(p*,r0) Add(p,r1*) -> r1 r2">(),                        // momentum, dampening, clipped
    entry<"Add(p,p*) Add(p*,r0) Add(p,r1*) -> r1 r2">(),                        // momentum, weight decay
    entry<"Add(p*,p*) Add(p*,r0) Add(p,r1*) -> r1 r2">(),                       // momentum, weight decay, clipped
    entry<"Add(p*,p) Add(p,r0*) Add(p,r1*) -> r0 r2">(),                        // nesterov
    entry<"Mul(p,v) Add(p*,r0) Add(r0,r1*) Add(p,r2*) -> r1 r3">(),             // nesterov, clipped
    entry<"Neg(p,p) Add(r0,p*) Add(p*,r1) Add(r1,r2*) Add(p,r3*) -> r2 r4">(),  // nesterov, wd, maximize
    entry<"Mul(p,v) Neg(r0,r0) Add(r1,p*) Add(p*,r2) Add(r2,r3*) Add(p,r4*) -> r3 r5">(),  // the same, clipped
    // Adam (p: the parameter; p*: AdamW's decayed parameter)
    entry<"Add(p*,p*) Mul(p*,p) Add(p*,r1) Sqrt(r2,r2) Div(r3,v) Add(r4,v) Div(r0*,r5) Add(p,r6) -> r0 r2 r7">(),
    entry<"Add(p*,p*) Mul(p*,p) Add(p*,r1) Sqrt(r2,r2) Div(r3,v) Add(r4,v) Div(r0*,r5) Add(p*,r6) -> r0 r2 r7">(),
    entry<"Mul(p,v) Add(p*,r0*) Mul(r0*,r0) Add(p*,r2) Sqrt(r3,r3) Div(r4,v) Add(r5,v) Div(r1*,r6) Add(p,r7) -> "
          "r1 r3 r8">(),  // clipped
    entry<"Mul(p,v) Add(p*,r0*) Mul(r0*,r0) Add(p*,r2) Sqrt(r3,r3) Div(r4,v) Add(r5,v) Div(r1*,r6) Add(p*,r7) -> "
          "r1 r3 r8">(),  // AdamW clipped
    entry<"Add(p,p*) Add(p*,r0*) Mul(r0*,r0) Add(p*,r2) Sqrt(r3,r3) Div(r4,v) Add(r5,v) Div(r1*,r6) Add(p,r7) -> "
          "r1 r3 r8">(),  // L2 weight decay
    entry<"Add(p*,p*) Add(p*,r0*) Mul(r0*,r0) Add(p*,r2) Sqrt(r3,r3) Div(r4,v) Add(r5,v) Div(r1*,r6) Add(p,r7) -> "
          "r1 r3 r8">(),  // L2 weight decay, clipped
    entry<"Neg(p,p) Add(p*,r0*) Mul(r0*,r0) Add(p*,r2) Sqrt(r3,r3) Div(r4,v) Add(r5,v) Div(r1*,r6) Add(p,r7) -> "
          "r1 r3 r8">(),  // maximize
    entry<"Neg(p,p) Add(p*,r0*) Mul(r0*,r0) Add(p*,r2) Sqrt(r3,r3) Div(r4,v) Add(r5,v) Div(r1*,r6) Add(p*,r7) -> "
          "r1 r3 r8">(),  // AdamW maximize
    entry<"Mul(p,v) Neg(r0,r0) Add(p*,r1*) Mul(r1*,r1) Add(p*,r3) Sqrt(r4,r4) Div(r5,v) Add(r6,v) Div(r2*,r7) "
          "Add(p,r8) -> r2 r4 r9">(),  // maximize, clipped
    entry<"Mul(p,v) Neg(r0,r0) Add(p*,r1*) Mul(r1*,r1) Add(p*,r3) Sqrt(r4,r4) Div(r5,v) Add(r6,v) Div(r2*,r7) "
          "Add(p*,r8) -> r2 r4 r9">(),  // AdamW maximize, clipped
    // Inference's elementwise tails (ONNX models' activations, decomposed)
    entry<"Add(p*,v) Clamp(r0,r0) Mul(p,r1) -> r2">(),  // hardswish: x * clamp(x / 6 + 1/2, 0, 1)
    entry<"Add(p*,v) Clamp(r0,r0) -> r1">(),            // hardsigmoid
};
}  // namespace

std::string loop_shape(const FusedLoop& loop) {
  auto operand = [](const Operand& o) -> std::string {
    const bool scaled = o.scale != Operand::Scale::None;
    switch (o.kind) {
      case Operand::Kind::Input:
        return scaled ? "p*" : "p";
      case Operand::Kind::ScalarInput:
      case Operand::Kind::Immediate:
        return "v";  // a scale is multiplied in once
      case Operand::Kind::Step:
        return fmt::format("r{}{}", o.index, scaled ? "*" : "");
    }
    return "?";
  };
  std::string text;
  for (const Step& st : loop.steps)
    text += fmt::format("{}({},{}) ", ops::formula_name(st.formula), operand(st.a), operand(st.b));
  text += "->";
  for (int store : loop.stores) text += fmt::format(" r{}", store);
  return text;
}

StraightLineKernel find_straight_line(const FusedLoop& loop) {
  const std::string shape = loop_shape(loop);
  for (const Entry& e : kShapes)
    if (e.shape == shape) return e.kernel;
  return nullptr;
}

std::vector<std::string> straight_line_shapes() {
  std::vector<std::string> shapes;
  for (const Entry& e : kShapes) shapes.emplace_back(e.shape);
  return shapes;
}

}  // namespace aotgrad::compile
