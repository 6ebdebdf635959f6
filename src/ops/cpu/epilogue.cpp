#include "ops/cpu/epilogue.h"

#include "ops/cpu/formulas.h"
#include "support/error.h"

namespace aotgrad::ops::cpu {

namespace {
template <Formula F, typename T>
void apply_span(const FormulaParams& p, T* x, int64_t n) {
  if constexpr (formula_arity_v<F> == 1) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) x[i] = formula::apply<F>(x[i], x[i], p);
  } else {
    (void)p, (void)x, (void)n;
    AG_INTERNAL_CHECK(false, "epilogue: {} is not a unary formula", formula_name(F));
  }
}
}  // namespace

template <typename T>
void apply_epilogue(const Epilogue* epilogue, T* x, int64_t n) {
  if (epilogue == nullptr) return;
  switch (epilogue->formula) {
#define AG_EPILOGUE_CASE(name, arity, vectorises) \
  case Formula::name:                             \
    return apply_span<Formula::name>(epilogue->params, x, n);
    AG_ELEMENTWISE_FORMULAS(AG_EPILOGUE_CASE)
#undef AG_EPILOGUE_CASE
  }
}

template void apply_epilogue<float>(const Epilogue*, float*, int64_t);
template void apply_epilogue<double>(const Epilogue*, double*, int64_t);

}  // namespace aotgrad::ops::cpu
