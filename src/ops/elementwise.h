// Note [One formula per elementwise op]: the per-element formulas that both an op's
// kernel and the compiler's fused loops evaluate. Each formula is written once, in
// ops/cpu/formulas.h; an op declares in its kernel registration which formula it
// computes (Registry::elementwise), and that declaration is all fusion reads, so a
// new formula-backed op is fused with no list to update elsewhere.
#pragma once

#include <limits>

#include "aotgrad/ivalue.h"

namespace aotgrad::ops {

// X(name, arity, vectorises): `vectorises` is false for formulas that call libm
// (clang cannot vectorise the call, and says so under `omp simd`).
#define AG_ELEMENTWISE_FORMULAS(X) \
  X(Add, 2, true)                  \
  X(Sub, 2, true)                  \
  X(Rsub, 2, true)                 \
  X(Mul, 2, true)                  \
  X(Div, 2, true)                  \
  X(Pow, 2, false)                 \
  X(Identity, 1, true)             \
  X(Neg, 1, true)                  \
  X(Exp, 1, true)                  \
  X(Relu, 1, true)                 \
  X(Sigmoid, 1, true)              \
  X(Tanh, 1, false)                \
  X(Sqrt, 1, true)                 \
  X(Rsqrt, 1, true)                \
  X(Reciprocal, 1, true)           \
  X(Square, 1, true)               \
  X(Gelu, 1, true)                 \
  X(Clamp, 1, true)                \
  X(GeluBackward, 2, true)         \
  X(ThresholdBackward, 2, true)    \
  X(SigmoidBackward, 2, true)      \
  X(TanhBackward, 2, true)

enum class Formula {
#define AG_FORMULA_ENUM(name, arity, vectorises) name,
  AG_ELEMENTWISE_FORMULAS(AG_FORMULA_ENUM)
#undef AG_FORMULA_ENUM
};

/// The numbers a formula takes besides its operands: add's and sub's alpha (y is
/// scaled by it; rsub's x), threshold_backward's threshold, clamp's bounds (an absent
/// bound is infinite).
struct FormulaParams {
  double alpha = 1;
  double threshold = 0;
  double lower = -std::numeric_limits<double>::infinity();
  double upper = std::numeric_limits<double>::infinity();
  bool operator==(const FormulaParams&) const = default;
};

/// Each formula's facts, in enum order: one table the loops and kernels read.
struct FormulaInfo {
  const char* name;
  int arity;
  bool vectorises;
};
inline constexpr FormulaInfo kFormulas[] = {
#define AG_FORMULA_INFO(name, arity, vectorises) {#name, arity, vectorises},
    AG_ELEMENTWISE_FORMULAS(AG_FORMULA_INFO)
#undef AG_FORMULA_INFO
};
constexpr const FormulaInfo& formula_info(Formula f) {
  return kFormulas[static_cast<int>(f)];
}
template <Formula F>
constexpr int formula_arity_v = formula_info(F).arity;
template <Formula F>
constexpr bool formula_vectorises_v = formula_info(F).vectorises;
inline int formula_arity(Formula f) {
  return formula_info(f).arity;
}
inline const char* formula_name(Formula f) {
  return formula_info(f).name;
}

/// An op's declaration that it computes `formula` element by element: `params` takes
/// a call's arguments and, when this call is the formula (gelu with
/// approximate='none', pow with exponent 2), fills the formula's params and returns
/// true.
/// Its operands are the call's first formula_arity() arguments.
struct ElementwiseForm {
  using ParamsFn = bool (*)(const Args& args, FormulaParams& params);
  Formula formula;
  ParamsFn params;
};

/// Note [Epilogues]: a unary formula a kernel applies to its output as it writes it,
/// span by span while the span is in cache (OpInfo::with_epilogue): the compiled
/// program gives a producer the elementwise op that is the only reader of its output
/// (a convolution's ReLU), and that op's pass over memory goes.
struct Epilogue {
  Formula formula;
  FormulaParams params;
};

/// Readers for the usual argument lists: none beyond the operands; an `alpha`
/// number at argument 2 (add, sub); a `threshold` number at argument 2.
bool no_params(const Args& args, FormulaParams& params);
bool alpha_at_2(const Args& args, FormulaParams& params);
bool threshold_at_2(const Args& args, FormulaParams& params);
/// clamp(self, min=None, max=None): the bounds at arguments 1 and 2, numbers or None.
bool clamp_bounds(const Args& args, FormulaParams& params);
/// _to_copy as a change of dtype only: every argument after the dtype is its default
/// (so the result has the input's layout, and a flat loop computes it).
bool dtype_change_only(const Args& args, FormulaParams& params);

}  // namespace aotgrad::ops
