// Symbolic shape rules of convolution, normalisation, pooling, losses, embedding and
// collectives (Note [Symbolic shape rules]).
#include "ops/dispatch.h"
#include "ops/families.h"
#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

namespace {
// The results the integer rule left undefined (a backward's output_mask) stay so.
SymShapes masked(const SymRuleCall& c, SymShapes shapes) {
  const TensorList results = flatten_outputs(c.results);
  for (size_t i = 0; i < shapes.size() && i < results.size(); ++i)
    if (!results[i].defined()) shapes[i].clear();
  return shapes;
}

SymShapes like(const SymRuleCall& c, std::initializer_list<size_t> args) {
  SymShapes out;
  for (size_t a : args) out.push_back(c.args[a].is_tensor() ? c.sizes(a) : std::vector<SymExpr>{});
  return masked(c, out);
}

// One output size of a sliding window (convolution, pooling), Python's floor division.
SymExpr window_out(const SymExpr& in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation) {
  return floordiv(in + 2 * pad - dilation * (kernel - 1) - 1, SymExpr(stride)) + 1;
}
int64_t at_or_last(const IntList& l, size_t i, int64_t fallback) {
  if (l.empty()) return fallback;
  return i < l.size() ? l[i] : l.back();
}

SymShapes convolution_rule(const SymRuleCall& c) {
  const auto x = c.sizes(0), w = c.sizes(1);
  const IntList &stride = c.args[3].to_int_list(), &pad = c.args[4].to_int_list(), &dil = c.args[5].to_int_list();
  const bool transposed = c.args[6].to_bool();
  const IntList& out_pad = c.args[7].to_int_list();
  const int64_t groups = c.args[8].to_int();
  c.expect_eq(x[1], transposed ? w[0] : w[1] * groups, "convolution's input channels");
  std::vector<SymExpr> out{x[0], transposed ? w[1] * groups : w[0]};
  for (size_t i = 2; i < x.size(); ++i) {
    const size_t s = i - 2;
    const int64_t k = w[i].is_constant() ? w[i].constant() : c.env.hint(w[i]);
    if (transposed)
      out.push_back((x[i] - 1) * at_or_last(stride, s, 1) - 2 * at_or_last(pad, s, 0) +
                    at_or_last(dil, s, 1) * (k - 1) + at_or_last(out_pad, s, 0) + 1);
    else
      out.push_back(window_out(x[i], k, at_or_last(stride, s, 1), at_or_last(pad, s, 0), at_or_last(dil, s, 1)));
  }
  for (SymExpr& e : out) e = c.env.canonical(e);
  return {out};
}

// max_pool2d_with_indices, avg_pool2d: [N, C, oh, ow]; ceil_mode's rounding is kept
// only for fixed sizes.
SymShapes pool_rule(const SymRuleCall& c, bool ceil_mode, size_t results) {
  std::vector<SymExpr> x = c.sizes(0);
  const IntList& kernel = c.args[1].to_int_list();
  const IntList& stride = c.args[2].to_int_list().empty() ? kernel : c.args[2].to_int_list();
  const IntList& pad = c.args[3].to_int_list();
  const bool has_dilation = c.op.schema.arg_index("dilation") == 4;
  const size_t first = x.size() - 2;
  for (size_t i = first; i < x.size(); ++i)
    if (ceil_mode && !x[i].is_constant()) c.env.specialize(x[i], "pooling with ceil_mode on a symbolic size");
  std::vector<SymExpr> out(x.begin(), x.begin() + static_cast<int64_t>(first));
  for (size_t i = first; i < x.size(); ++i) {
    const size_t s = i - first;
    const SymExpr in = c.env.canonical(x[i]);
    if (in.is_constant()) {
      out.emplace_back(flatten_outputs(c.results)[0].sizes()[i]);
      continue;
    }
    out.push_back(window_out(in, at_or_last(kernel, s, 1), at_or_last(stride, s, 1), at_or_last(pad, s, 0),
                             has_dilation ? at_or_last(c.args[4].to_int_list(), s, 1) : 1));
  }
  for (SymExpr& e : out) e = c.env.canonical(e);
  return SymShapes(results, out);
}

// Batch norm's statistics are per channel ([C]), or empty ([0]) where not computed.
std::vector<SymExpr> channel_stats(const SymRuleCall& c, size_t result) {
  const Tensor r = flatten_outputs(c.results).at(result);
  const auto x = c.sizes(0);
  if (r.dim() == 1 && x.size() > 1 && r.size(0) == c.env.hint(x[1])) return {x[1]};
  std::vector<SymExpr> out;
  for (int64_t d : r.sizes()) out.emplace_back(d);
  return out;
}

SymShapes batch_norm_rule(const SymRuleCall& c) {
  const auto x = c.sizes(0);
  const bool training = c.op.id == OpId::_native_batch_norm_legit_functional && c.args[5].to_bool();
  if (training && x.size() > 1) {
    SymExpr per_channel(1);
    for (size_t d = 0; d < x.size(); ++d)
      if (d != 1) per_channel = per_channel * x[d];
    c.env.expect(per_channel, SymGuard::Rel::Gt, SymExpr(1),
                 "batch norm in training needs more than one value per channel");
  }
  SymShapes out{x};
  for (size_t i = 1; i < flatten_outputs(c.results).size(); ++i) out.push_back(channel_stats(c, i));
  return masked(c, out);
}

SymShapes layer_norm_rule(const SymRuleCall& c) {
  const auto x = c.sizes(0), normalized = c.ints(1);
  const size_t lead = x.size() - normalized.size();
  for (size_t i = 0; i < normalized.size(); ++i)
    c.expect_eq(x[lead + i], normalized[i], "layer norm's normalized_shape");
  std::vector<SymExpr> stats(x.begin(), x.begin() + static_cast<int64_t>(lead));
  stats.resize(x.size(), SymExpr(1));
  return {c.sizes(0), stats, stats};
}

SymShapes nll_loss_rule(const SymRuleCall& c) {
  const auto x = c.sizes(0), target = c.sizes(1);
  if (x.size() == 2 && target.size() == 1) c.expect_eq(x[0], target[0], "nll_loss's batch sizes of self and target");
  const bool none = c.args[3].to_int() == 0;
  std::vector<SymExpr> out;
  if (none && x.size() == 2) out.push_back(c.env.canonical(x[0]));
  return {out, {}};
}

SymShapes mse_loss_rule(const SymRuleCall& c) {
  const std::vector<SymExpr> b = c.broadcast(c.sizes(0), c.sizes(1));
  return {c.args[2].to_int() == 0 ? b : std::vector<SymExpr>{}};
}
}  // namespace

void register_nn_sym_shapes(Registry& r) {
  r.sym_shape(OpId::convolution, convolution_rule);
  r.sym_shape(OpId::convolution_backward, [](const SymRuleCall& c) {
    SymShapes out = like(c, {1, 2});
    std::vector<SymExpr> bias;
    if (!c.args[3].is_none())
      for (const SymInt& v : c.args[3].to_sym_int_list()) bias.push_back(c.env.canonical(v.expr));
    out.push_back(bias);
    return masked(c, out);
  });
  r.sym_shape(OpId::_native_batch_norm_legit_functional, batch_norm_rule);
  r.sym_shape(OpId::_native_batch_norm_legit_no_training, batch_norm_rule);
  r.sym_shape(OpId::native_batch_norm_backward, [](const SymRuleCall& c) {
    const auto x = c.sizes(1);
    std::vector<SymExpr> channels{x.size() > 1 ? x[1] : SymExpr(1)};
    return masked(c, {x, channels, channels});
  });
  r.sym_shape(OpId::native_layer_norm, layer_norm_rule);
  r.sym_shape(OpId::native_layer_norm_backward, [](const SymRuleCall& c) { return like(c, {1, 5, 6}); });
  r.sym_shape(OpId::max_pool2d_with_indices, [](const SymRuleCall& c) { return pool_rule(c, c.args[5].to_bool(), 2); });
  r.sym_shape(OpId::avg_pool2d, [](const SymRuleCall& c) { return pool_rule(c, c.args[4].to_bool(), 1); });
  for (OpId id : {OpId::max_pool2d_with_indices_backward, OpId::avg_pool2d_backward,
                  OpId::_adaptive_avg_pool2d_backward, OpId::nll_loss_backward})
    r.sym_shape(id, [](const SymRuleCall& c) { return like(c, {1}); });
  r.sym_shape(OpId::_adaptive_avg_pool2d, [](const SymRuleCall& c) {
    std::vector<SymExpr> x = c.sizes(0);
    const IntList& size = c.args[1].to_int_list();
    for (size_t i = 0; i < size.size(); ++i) x[x.size() - size.size() + i] = SymExpr(size[i]);
    return SymShapes{x};
  });
  r.sym_shape(OpId::nll_loss_forward, nll_loss_rule);
  r.sym_shape(OpId::mse_loss, mse_loss_rule);
  r.sym_shape(OpId::mse_loss_backward,
              [](const SymRuleCall& c) { return SymShapes{c.broadcast(c.sizes(1), c.sizes(2))}; });
  r.sym_shape(OpId::embedding, [](const SymRuleCall& c) {
    std::vector<SymExpr> out = c.sizes(1);
    out.push_back(c.sizes(0).at(1));
    return SymShapes{out};
  });
  r.sym_shape(OpId::embedding_dense_backward, [](const SymRuleCall& c) {
    return SymShapes{{c.int_arg(2), c.sizes(0).back()}};
  });
  for (OpId id : {OpId::c10d_all_reduce, OpId::c10d_wait_tensor})
    r.sym_shape(id, [](const SymRuleCall& c) { return SymShapes{c.sizes(0)}; });
}

}  // namespace aotgrad::ops
