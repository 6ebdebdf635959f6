#include "ops/elementwise.h"

namespace aotgrad::ops {

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
