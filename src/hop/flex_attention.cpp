// flex_attention and create_block_mask (see aotgrad/hop.h).
//
// Note [One path for eager and graphs]
// score_mod and mask_mod are traced into small graphs on every call, eager or not,
// and the kernels always evaluate those graphs on tiles (hop_detail::flex_mods). So an
// eager call, the interpreter and the compiled executor run the same code on the
// same graphs, and a graph's flex_attention node needs nothing but its subgraphs.
// Under a trace the call records flex_attention (and, when the engine reaches it,
// flex_attention_backward); the subgraphs are read with get_attr nodes named as
// PyTorch names them: sdpa_score0 and sdpa_mask0 for the forward, fw_graph0,
// joint_graph0 and mask_graph0 for the backward.
#include <cmath>

#include "aotgrad/autograd.h"
#include "aotgrad/hop.h"
#include "aotgrad/ops.h"
#include "aotgrad/trace.h"
#include "graph/higher_order.h"
#include "hop/hop_internal.h"
#include "hop/register.h"
#include "ops/cpu/flex_attention.h"
#include "ops/dispatch.h"
#include "support/error.h"
#include "trace/tracer.h"

namespace aotgrad {

namespace {
using graph::Arg;

// Example inputs for tracing a mod: 0-d tensors (the graph is evaluated later on
// tiles that broadcast).
Tensor scalar_meta(DType dtype, bool requires_grad = false) {
  Tensor t = Tensor::meta({}, dtype);
  if (requires_grad) t.set_requires_grad(true);
  return t;
}

trace::TraceOptions mod_trace_options() {
  trace::TraceOptions o;
  const trace::Tracer* outer = trace::active_tracer();
  o.record_stack_traces = outer != nullptr && outer->options().record_stack_traces;
  if (outer != nullptr) o.stack_frames = outer->options().stack_frames;
  return o;
}

std::shared_ptr<graph::GraphModule> trace_score_mod(const ScoreMod& score_mod, DType dtype) {
  const DType i32 = DType::Int32;
  auto g = trace::make_fx(
      [&](const TensorList& a) {
        if (!score_mod) return TensorList{a[0]};
        Tensor s = score_mod(a[0], a[1], a[2], a[3], a[4]);
        AG_CHECK(s.defined() && s.dtype() == a[0].dtype(),
                 "flex_attention: score_mod must return a tensor of the score's dtype {}, but returned {}",
                 dtype_abbrev(a[0].dtype()), s.defined() ? s.describe() : "an undefined tensor");
        return TensorList{s};
      },
      {scalar_meta(dtype), scalar_meta(i32), scalar_meta(i32), scalar_meta(i32), scalar_meta(i32)},
      mod_trace_options());
  g->name = "score_mod";
  return g;
}

// (score, b, h, q_idx, kv_idx, grad) -> d(score_mod)/d(score) * grad.
std::shared_ptr<graph::GraphModule> trace_score_mod_joint(const ScoreMod& score_mod, DType dtype) {
  const DType i32 = DType::Int32;
  autograd::EnableGradGuard grad_on;
  auto g = trace::make_fx(
      [&](const TensorList& a) {
        if (!score_mod) return TensorList{a[5]};
        Tensor s = score_mod(a[0], a[1], a[2], a[3], a[4]);
        if (s.is_same(a[0])) return TensorList{a[5]};
        Tensor g = s.requires_grad() ? autograd::grad({s}, {a[0]}, {a[5]}, /*allow_unused=*/true)[0] : Tensor();
        return TensorList{g.defined() ? g : zeros_like(a[5])};
      },
      {scalar_meta(dtype, true), scalar_meta(i32), scalar_meta(i32), scalar_meta(i32), scalar_meta(i32),
       scalar_meta(dtype)},
      mod_trace_options());
  g->name = "score_mod_joint";
  return g;
}

std::shared_ptr<graph::GraphModule> trace_mask_mod(const MaskMod& mask_mod) {
  AG_CHECK(mask_mod != nullptr, "flex_attention: the block mask has no mask_mod (make it with create_block_mask)");
  const DType i32 = DType::Int32;
  auto g = trace::make_fx(
      [&](const TensorList& a) {
        Tensor m = mask_mod(a[0], a[1], a[2], a[3]);
        AG_CHECK(m.defined() && m.dtype() == DType::Bool,
                 "flex_attention: mask_mod must return a bool tensor, but "
                 "returned {}",
                 m.defined() ? m.describe() : "an undefined tensor");
        return TensorList{m};
      },
      {scalar_meta(i32), scalar_meta(i32), scalar_meta(i32), scalar_meta(i32)}, mod_trace_options());
  g->name = "mask_mod";
  return g;
}

ops::flex::BlockMaskTables tables_of(const BlockMask& m) {
  return {m.q_len,          m.kv_len, m.q_block, m.kv_block, m.kv_num_blocks, m.kv_indices, m.full_kv_num_blocks,
          m.full_kv_indices};
}

// The block mask as flex_attention's argument list (hop_internal.h, BlockMaskArg).
Arg block_mask_arg(trace::Tracer& t, const BlockMask& m, graph::Node* mask_graph) {
  auto tensor = [&](const Tensor& x) { return x.defined() ? Arg(t.node_of(x)) : Arg(); };
  return Arg(Arg::List{m.kv_len, m.q_len, tensor(m.kv_num_blocks), tensor(m.kv_indices), tensor(m.full_kv_num_blocks),
                       tensor(m.full_kv_indices), tensor(m.q_num_blocks), tensor(m.q_indices),
                       tensor(m.full_q_num_blocks), tensor(m.full_q_indices), m.q_block, m.kv_block, Arg(mask_graph)});
}

struct FlexGraphs {
  std::shared_ptr<graph::GraphModule> score, score_joint, mask;
};
}  // namespace

double BlockMask::sparsity() const {
  if (!kv_num_blocks.defined()) return 0;
  const int64_t nq = (q_len + q_block - 1) / q_block, nkv = (kv_len + kv_block - 1) / kv_block;
  const auto listed = kv_num_blocks.to_vector<int32_t>();
  int64_t total = 0;
  for (int32_t n : listed) total += n;
  if (full_kv_num_blocks.defined())
    for (int32_t n : full_kv_num_blocks.to_vector<int32_t>()) total += n;
  const auto pairs = static_cast<double>(static_cast<int64_t>(listed.size()) / nq * nq * nkv);
  return pairs == 0 ? 0 : 1.0 - static_cast<double>(total) / pairs;
}

BlockMask create_block_mask(const MaskMod& mask_mod, int64_t B, int64_t H, int64_t q_len, int64_t kv_len,
                            int64_t block_size) {
  AG_CHECK(mask_mod != nullptr, "create_block_mask: no mask_mod given");
  AG_CHECK(B >= 1 && H >= 1 && q_len >= 1 && kv_len >= 1 && block_size >= 1,
           "create_block_mask: B, H, Q_LEN, KV_LEN and the block size must be positive, but got {}, {}, {}, {}, {}", B,
           H, q_len, kv_len, block_size);
  // The mask is evaluated on real tensors, even when called inside a trace.
  ops::ModeGuard eager(nullptr);
  autograd::NoGradGuard no_grad;
  BlockMask m;
  m.q_len = q_len;
  m.kv_len = kv_len;
  m.q_block = m.kv_block = block_size;
  m.mask_mod = mask_mod;
  const int64_t nq = (q_len + block_size - 1) / block_size, nkv = (kv_len + block_size - 1) / block_size;
  std::vector<int32_t> kvn(static_cast<size_t>(B * H * nq)), fkvn(kvn.size()), qn(static_cast<size_t>(B * H * nkv)),
      fqn(qn.size());
  std::vector<int32_t> kvi(static_cast<size_t>(B * H * nq * nkv)), fkvi(kvi.size()), qi(kvi.size()), fqi(kvi.size());
  std::vector<int32_t> qs(static_cast<size_t>(q_len)), ks(static_cast<size_t>(kv_len));
  for (int64_t i = 0; i < q_len; ++i) qs[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  for (int64_t i = 0; i < kv_len; ++i) ks[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  const Tensor q_idx = Tensor::from_vector<int32_t>(qs, {q_len, 1}),
               kv_idx = Tensor::from_vector<int32_t>(ks, {1, kv_len});
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      Tensor keep = mask_mod(Tensor::scalar<int32_t>(static_cast<int32_t>(b)),
                             Tensor::scalar<int32_t>(static_cast<int32_t>(h)), q_idx, kv_idx);
      AG_CHECK(keep.defined() && keep.dtype() == DType::Bool,
               "create_block_mask: mask_mod must return a bool tensor, but returned {}",
               keep.defined() ? keep.describe() : "an undefined tensor");
      keep = contiguous(expand(keep, {q_len, kv_len}));
      const bool* k = keep.data_ptr<bool>();
      const int64_t bh = b * H + h;
      for (int64_t qb = 0; qb < nq; ++qb) {
        for (int64_t kb = 0; kb < nkv; ++kb) {
          int64_t on = 0, all = 0;
          for (int64_t r = qb * block_size; r < std::min(q_len, (qb + 1) * block_size); ++r)
            for (int64_t c = kb * block_size; c < std::min(kv_len, (kb + 1) * block_size); ++c, ++all)
              on += k[r * kv_len + c] ? 1 : 0;
          if (on == 0) continue;
          const bool full = on == all;
          auto& num = full ? fkvn : kvn;
          auto& idx = full ? fkvi : kvi;
          idx[static_cast<size_t>((bh * nq + qb) * nkv + num[static_cast<size_t>(bh * nq + qb)]++)] =
              static_cast<int32_t>(kb);
          auto& tnum = full ? fqn : qn;
          auto& tidx = full ? fqi : qi;
          tidx[static_cast<size_t>((bh * nkv + kb) * nq + tnum[static_cast<size_t>(bh * nkv + kb)]++)] =
              static_cast<int32_t>(qb);
        }
      }
    }
  }
  m.kv_num_blocks = Tensor::from_vector<int32_t>(kvn, {B, H, nq});
  m.kv_indices = Tensor::from_vector<int32_t>(kvi, {B, H, nq, nkv});
  m.full_kv_num_blocks = Tensor::from_vector<int32_t>(fkvn, {B, H, nq});
  m.full_kv_indices = Tensor::from_vector<int32_t>(fkvi, {B, H, nq, nkv});
  m.q_num_blocks = Tensor::from_vector<int32_t>(qn, {B, H, nkv});
  m.q_indices = Tensor::from_vector<int32_t>(qi, {B, H, nkv, nq});
  m.full_q_num_blocks = Tensor::from_vector<int32_t>(fqn, {B, H, nkv});
  m.full_q_indices = Tensor::from_vector<int32_t>(fqi, {B, H, nkv, nq});
  return m;
}

namespace hop_detail {
TensorList flex_attention_outputs(const Tensor& q, const Tensor& k, const Tensor& v, const ScoreMod& score_mod,
                                  const BlockMask& block_mask, std::optional<double> scale) {
  hop::register_higher_order_ops();
  const ops::flex::BlockMaskTables tables = tables_of(block_mask);
  ops::flex::check_inputs(q, k, v, tables);
  const double s = scale.value_or(1.0 / std::sqrt(static_cast<double>(q.size(3))));
  auto graphs = std::make_shared<FlexGraphs>();
  graphs->score = trace_score_mod(score_mod, q.dtype());
  graphs->score_joint = trace_score_mod_joint(score_mod, q.dtype());
  graphs->mask = trace_mask_mod(block_mask.mask_mod);
  const Tensor out_meta = Tensor::meta({q.size(0), q.size(1), q.size(2), v.size(3)}, q.dtype());
  const Tensor lse_meta = Tensor::meta({q.size(0), q.size(1), q.size(2)}, q.dtype());

  auto forward = [&](autograd::FunctionContext& ctx, const TensorList& in) -> TensorList {
    TensorList results;
    if (trace::Tracer* t = trace::active_tracer()) {
      graph::Node* score = t->subgraph_attr("sdpa_score", graphs->score);
      graph::Node* mask = t->subgraph_attr("sdpa_mask", graphs->mask);
      Arg::List args{Arg(t->node_of(in[0])),
                     Arg(t->node_of(in[1])),
                     Arg(t->node_of(in[2])),
                     Arg(score),
                     block_mask_arg(*t, block_mask, mask),
                     s,
                     Arg(Arg::List{}),
                     Arg(Arg::List{})};
      results = t->record_higher_order(hop_detail::kFlexAttention, std::move(args), {out_meta, lse_meta});
    } else {
      const Tensor qc = contiguous(in[0]), kc = contiguous(in[1]), vc = contiguous(in[2]);
      results = {Tensor::empty(out_meta.sizes(), q.dtype()), Tensor::empty(lse_meta.sizes(), q.dtype())};
      ops::flex::forward(qc, kc, vc, tables, hop_detail::flex_mods(graphs->score, nullptr, graphs->mask), s, results[0],
                         results[1]);
    }
    // Detached handles: the outputs themselves point back at this function's node.
    ctx.materialize_grads = false;  // lse has no gradient: no zeros for it
    ctx.save_for_backward({in[0], in[1], in[2], results[0].detach(), results[1].detach()});
    return results;
  };
  auto backward = [graphs, block_mask, tables, s](autograd::FunctionContext& ctx, const TensorList& grads) {
    const TensorList& sv = ctx.saved;
    const Tensor grad_out = grads[0].defined() ? grads[0] : zeros_like(sv[3]);
    if (trace::Tracer* t = trace::active_tracer()) {
      graph::Node* fw = t->subgraph_attr("fw_graph", graphs->score);
      graph::Node* joint = t->subgraph_attr("joint_graph", graphs->score_joint);
      graph::Node* mask = t->subgraph_attr("mask_graph", graphs->mask);
      Arg::List args;
      for (const Tensor& x : sv) args.emplace_back(t->node_of(x));
      args.emplace_back(t->node_of(grad_out));
      args.emplace_back();  // grad of logsumexp: flex_attention returns only the output
      args.emplace_back(fw);
      args.emplace_back(joint);
      args.push_back(block_mask_arg(*t, block_mask, mask));
      args.emplace_back(s);
      args.emplace_back(Arg::List{});
      args.emplace_back(Arg::List{});
      TensorList metas;
      for (int i = 0; i < 3; ++i) metas.push_back(Tensor::meta(sv[i].sizes(), sv[i].dtype()));
      return t->record_higher_order(hop_detail::kFlexAttentionBackward, std::move(args), metas);
    }
    TensorList d;
    for (int i = 0; i < 3; ++i) d.push_back(Tensor::empty(sv[i].sizes(), sv[i].dtype()));
    ops::flex::backward(contiguous(sv[0]), contiguous(sv[1]), contiguous(sv[2]), sv[3], sv[4], contiguous(grad_out),
                        tables, hop_detail::flex_mods(graphs->score, graphs->score_joint, graphs->mask), s, d[0], d[1],
                        d[2]);
    return d;
  };
  return autograd::apply_function("FlexAttentionAutogradOp", {q, k, v}, forward, backward);
}
}  // namespace hop_detail

Tensor flex_attention(const Tensor& q, const Tensor& k, const Tensor& v, const ScoreMod& score_mod,
                      const BlockMask& block_mask, std::optional<double> scale) {
  return hop_detail::flex_attention_outputs(q, k, v, score_mod, block_mask, scale)[0];
}

Tensor explicit_masked_attention(const Tensor& q, const Tensor& k, const Tensor& v, const ScoreMod& score_mod,
                                 const MaskMod& mask_mod, std::optional<double> scale) {
  AG_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
           "explicit_masked_attention: q, k and v must be [B, H, S, D], but got {}, {} and {}", q.describe(),
           k.describe(), v.describe());
  const double s = scale.value_or(1.0 / std::sqrt(static_cast<double>(q.size(3))));
  const int64_t B = q.size(0), H = q.size(1), L = q.size(2), S = k.size(2);
  auto index = [](int64_t n, Shape shape) {
    std::vector<int32_t> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<int32_t>(i);
    return Tensor::from_vector<int32_t>(v, shape);
  };
  // Index grids that broadcast to [B, H, L, S].
  const Tensor b = index(B, {B, 1, 1, 1}), h = index(H, {1, H, 1, 1}), qi = index(L, {1, 1, L, 1}),
               ki = index(S, {1, 1, 1, S});
  Tensor scores = matmul(q, transpose(k, -2, -1)) * s;
  if (score_mod) scores = score_mod(scores, b, h, qi, ki);
  if (mask_mod) scores = masked_fill(scores, logical_not(mask_mod(b, h, qi, ki)), -INFINITY);
  return matmul(softmax(scores, -1), v);
}

}  // namespace aotgrad
