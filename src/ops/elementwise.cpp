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

bool clamp_bounds(const Args& args, FormulaParams& params) {
  for (size_t i : {size_t{1}, size_t{2}})
    if (args.size() > i && !args[i].is_none() && !args[i].is_scalar()) return false;  // tensor bounds
  if (args.size() > 1 && !args[1].is_none()) params.lower = args[1].to_scalar().to_double();
  if (args.size() > 2 && !args[2].is_none()) params.upper = args[2].to_scalar().to_double();
  return true;
}

bool dtype_change_only(const Args& args, FormulaParams&) {
  // _to_copy(self, dtype, layout, device, pin_memory, non_blocking, memory_format)
  for (size_t i = 2; i < args.size(); ++i)
    if (!args[i].is_none() && !(args[i].is_bool() && !args[i].to_bool())) return false;
  return true;
}

}  // namespace aotgrad::ops
