#include "ops/cpu/cpu_features.h"

namespace aotgrad::ops::cpu {

bool has_avx512() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}

}  // namespace aotgrad::ops::cpu
