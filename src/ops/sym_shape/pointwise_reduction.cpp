// Symbolic shape rules of the elementwise ops, the reductions and the factories
// (Note [Symbolic shape rules]).
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

namespace {
// Every tensor (and wrapped number) argument broadcast together: the rule of every
// elementwise op, where numbers and strings are 0-d.
SymShapes broadcast_all(const SymRuleCall& c) {
  std::vector<SymExpr> out;
  for (size_t i = 0; i < c.args.size(); ++i)
    if (c.args[i].is_tensor() && c.args[i].to_tensor().defined()) out = c.broadcast(out, c.sizes(i));
  return {out};
}

SymShapes like_arg0(const SymRuleCall& c) {
  return {c.sizes(0)};
}

// sum.dim_IntList, mean.dim, amax, var.correction, argmax: the dims at argument 1
// (None or empty: all), keepdim by name.
SymShapes reduce_dims(const SymRuleCall& c) {
  const std::vector<SymExpr> in = c.sizes(0);
  const auto ndim = static_cast<int64_t>(in.size());
  const IValue& dims = c.args.at(1);
  IntList list;
  if (dims.is_int_list()) list = dims.to_int_list();
  if (dims.is_int()) list = {dims.to_int()};
  const std::vector<bool> mask = reduction_mask(list, ndim, c.op.name());
  const int k = c.op.schema.arg_index("keepdim");
  const bool keepdim = k >= 0 && static_cast<size_t>(k) < c.args.size() && c.args[static_cast<size_t>(k)].to_bool();
  std::vector<SymExpr> out;
  for (int64_t d = 0; d < ndim; ++d) {
    if (!mask[static_cast<size_t>(d)])
      out.push_back(in[static_cast<size_t>(d)]);
    else if (keepdim)
      out.emplace_back(1);
  }
  return {out};
}
}  // namespace

void register_pointwise_sym_shapes(Registry& r) {
  for (size_t i = 0; i < kNumOps; ++i)  // (the table is being built: read it through r)
    if (r[static_cast<OpId>(i)].has(OpTag::Pointwise)) r.sym_shape(static_cast<OpId>(i), broadcast_all);
  for (OpId id :
       {OpId::threshold_backward, OpId::gelu_backward, OpId::sigmoid_backward, OpId::tanh_backward, OpId::where_self,
        OpId::masked_fill_Scalar, OpId::copy, OpId::fill_Scalar, OpId::zero, OpId::prims_where})
    r.sym_shape(id, broadcast_all);
  // The mask broadcasts to self, which keeps its shape.
  r.sym_shape(OpId::masked_fill_Scalar, [](const SymRuleCall& c) {
    const std::vector<SymExpr> self = c.sizes(0);
    (void)c.broadcast(self, c.sizes(1));
    return SymShapes{self};
  });
}

void register_reduction_sym_shapes(Registry& r) {
  for (OpId id : {OpId::sum, OpId::mean}) r.sym_shape(id, [](const SymRuleCall&) { return SymShapes{{}}; });
  for (OpId id : {OpId::sum_dim_IntList, OpId::mean_dim, OpId::amax, OpId::amin, OpId::var_correction, OpId::argmax})
    r.sym_shape(id, reduce_dims);
  for (OpId id : {OpId::_softmax, OpId::_log_softmax}) r.sym_shape(id, like_arg0);
  for (OpId id : {OpId::_softmax_backward_data, OpId::_log_softmax_backward_data})
    r.sym_shape(id, [](const SymRuleCall& c) {
      const auto g = c.sizes(0), out = c.sizes(1);
      for (size_t d = 0; d < g.size(); ++d) c.expect_eq(g[d], out[d], "grad_output and output sizes");
      return SymShapes{g};
    });
}

void register_factory_sym_shapes(Registry& r) {
  for (OpId id : {OpId::new_zeros, OpId::new_empty})
    r.sym_shape(id, [](const SymRuleCall& c) { return SymShapes{c.ints(1)}; });
  r.sym_shape(OpId::full, [](const SymRuleCall& c) { return SymShapes{c.ints(0)}; });
  for (OpId id : {OpId::zeros_like, OpId::ones_like, OpId::triu}) r.sym_shape(id, like_arg0);
}

}  // namespace aotgrad::ops
