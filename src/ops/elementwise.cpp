#include "ops/elementwise.h"

namespace aotgrad::ops {

int formula_arity(Formula f) {
  switch (f) {
#define AG_FORMULA_ARITY(name, arity, vectorises) \
  case Formula::name:                             \
    return arity;
    AG_ELEMENTWISE_FORMULAS(AG_FORMULA_ARITY)
#undef AG_FORMULA_ARITY
  }
  return 0;
}

const char* formula_name(Formula f) {
  switch (f) {
#define AG_FORMULA_NAME(name, arity, vectorises) \
  case Formula::name:                            \
    return #name;
    AG_ELEMENTWISE_FORMULAS(AG_FORMULA_NAME)
#undef AG_FORMULA_NAME
  }
  return "?";
}

bool no_params(const Args&, FormulaParams&) {
  return true;
}

bool alpha_at_2(const Args& args, FormulaParams& params) {
  if (args.size() < 3 || !args[2].is_scalar()) return false;
  params.alpha = args[2].to_scalar().to_double();
  return true;
}

bool threshold_at_2(const Args& args, FormulaParams& params) {
  if (args.size() < 3 || !args[2].is_scalar()) return false;
  params.threshold = args[2].to_scalar().to_double();
  return true;
}

}  // namespace aotgrad::ops
