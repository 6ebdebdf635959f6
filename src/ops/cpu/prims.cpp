// CPU kernels of the prims. Each prim is a strict special case of an ATen op, so
// its kernel runs that op's kernel on the same (already allocated) outputs.
#include <utility>

#include "ops/cpu/loops.h"
#include "ops/families.h"

namespace aotgrad::ops {

namespace {
// The ATen kernel `id` on arguments `args`, writing into `o`.
void run(OpId id, const Args& args, Outputs& o) {
  op_info(id).kernel(args, o);
}
}  // namespace

// The prims that are an elementwise formula (Note [One formula per elementwise op]).
static void register_prims_formulas(Registry& r) {
  for (auto [prim, formula] : {std::pair{OpId::prims_add, Formula::Add},
                               {OpId::prims_sub, Formula::Sub},
                               {OpId::prims_mul, Formula::Mul},
                               {OpId::prims_div, Formula::Div},
                               {OpId::prims_neg, Formula::Neg},
                               {OpId::prims_exp, Formula::Exp},
                               {OpId::prims_tanh, Formula::Tanh},
                               {OpId::prims_sqrt, Formula::Sqrt},
                               {OpId::prims_rsqrt, Formula::Rsqrt},
                               {OpId::prims_reciprocal, Formula::Reciprocal}})
    r.elementwise(prim, {formula, no_params});
}

void register_prims_kernels(Registry& r) {
  register_prims_formulas(r);
#define AG_PRIM_AS(prim, aten) r.kernel(OpId::prim, [](const Args& a, Outputs& o) { run(OpId::aten, a, o); });
  AG_PRIM_AS(prims_neg, neg)
  AG_PRIM_AS(prims_abs, abs)
  AG_PRIM_AS(prims_exp, exp)
  AG_PRIM_AS(prims_log, log)
  AG_PRIM_AS(prims_sin, sin)
  AG_PRIM_AS(prims_cos, cos)
  AG_PRIM_AS(prims_tanh, tanh)
  AG_PRIM_AS(prims_sqrt, sqrt)
  AG_PRIM_AS(prims_rsqrt, rsqrt)
  AG_PRIM_AS(prims_erf, erf)
  AG_PRIM_AS(prims_sign, sign)
  AG_PRIM_AS(prims_reciprocal, reciprocal)
  AG_PRIM_AS(prims_mul, mul_Tensor)
  AG_PRIM_AS(prims_div, div_Tensor)
  AG_PRIM_AS(prims_maximum, maximum)
  AG_PRIM_AS(prims_minimum, minimum)
  AG_PRIM_AS(prims_eq, eq_Tensor)
  AG_PRIM_AS(prims_ne, ne_Tensor)
  AG_PRIM_AS(prims_gt, gt_Tensor)
  AG_PRIM_AS(prims_ge, ge_Tensor)
  AG_PRIM_AS(prims_lt, lt_Tensor)
  AG_PRIM_AS(prims_le, le_Tensor)
  AG_PRIM_AS(prims_bitwise_and, logical_and)
  AG_PRIM_AS(prims_where, where_self)
  AG_PRIM_AS(prims_cat, cat)
#undef AG_PRIM_AS
  r.kernel(OpId::prims_add, [](const Args& a, Outputs& o) { run(OpId::add_Tensor, {a[0], a[1], 1}, o); });
  r.kernel(OpId::prims_sub, [](const Args& a, Outputs& o) { run(OpId::sub_Tensor, {a[0], a[1], 1}, o); });
  r.kernel(OpId::prims_pow, [](const Args& a, Outputs& o) {
    if (a[1].is_scalar()) {
      run(OpId::pow_Tensor_Scalar, a, o);
      return;
    }
    const Tensor& x = a[0].to_tensor();
    const Tensor& e = a[1].to_tensor();
    cpu::visit_floating(x.dtype(), "prims.pow", [&]<typename T>() {
      cpu::map2<T, T, T>(cpu::out0(o), x, e, [](T b, T p) { return static_cast<T>(std::pow(b, p)); });
    });
  });
  r.kernel(OpId::prims_convert_element_type,
           [](const Args& a, Outputs& o) { cpu::copy_into(cpu::out0(o), a[0].to_tensor()); });
  r.kernel(OpId::prims_clone, [](const Args& a, Outputs& o) { cpu::copy_into(cpu::out0(o), a[0].to_tensor()); });
  r.kernel(OpId::prims_full, [](const Args& a, Outputs& o) { cpu::fill(cpu::out0(o), a[1].to_scalar().to_double()); });
  r.kernel(OpId::prims_sum, [](const Args& a, Outputs& o) {
    run(OpId::sum_dim_IntList, {a[0], a[1], false, a[2]}, o);
  });
  r.kernel(OpId::prims_amax, [](const Args& a, Outputs& o) {
    run(OpId::amax, {a[0], a[1].is_none() ? IValue(IntList{}) : a[1], false}, o);
  });
  r.kernel(OpId::prims_var, [](const Args& a, Outputs& o) {
    run(OpId::var_correction, {a[0], a[1], a[2].is_none() ? IValue(1.0) : a[2], false}, o);
  });
}

}  // namespace aotgrad::ops
