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

bool dtype_change_only(const Args& args, FormulaParams&) {
  // _to_copy(self, dtype, layout, device, pin_memory, non_blocking, memory_format)
  for (size_t i = 2; i < args.size(); ++i)
    if (!args[i].is_none() && !(args[i].is_bool() && !args[i].to_bool())) return false;
  return true;
}

}  // namespace aotgrad::ops
