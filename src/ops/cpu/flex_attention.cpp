// Block-sparse attention: see flex_attention.h.
//
// Note [One row block at a time]
// For a block of query rows the kernel gathers the scores of every listed key block
// side by side in one [rows, listed columns] buffer, so the softmax is an ordinary
// two-pass row softmax over exactly the allowed columns: no online rescaling, and
// results that do not depend on the block order. Blocks are visited in increasing
// key order. The forward splits the (batch, head, query block) tasks over threads;
// the backward splits (batch, head) pairs, because the key and value gradients of one
// head gather contributions from all its query blocks.
#include "ops/cpu/flex_attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ops/cpu/fast_math.h"
#include "ops/cpu/gemm.h"
#include "support/error.h"
#include "support/parallel.h"

namespace aotgrad::ops::flex {

namespace {

int32_t table_at(const Tensor& t, int64_t b, int64_t h, int64_t i, int64_t j = -1) {
  // Leading dims of size 1 broadcast over the batch and the heads.
  const int64_t bb = t.size(0) == 1 ? 0 : b, hh = t.size(1) == 1 ? 0 : h;
  int64_t off = bb * t.stride(0) + hh * t.stride(1) + i * t.stride(2);
  if (j >= 0) off += j * t.stride(3);
  return t.data_ptr<int32_t>()[off];
}

// An error thrown inside a parallel loop (by a score_mod or mask_mod, say), kept
// to be thrown again once the loop is over: exceptions may not leave OpenMP regions.
class FirstFailure {
 public:
  void keep(const Error& e) {
#pragma omp critical(flex_failure)
    if (!failed_) {
      failed_ = true;
      error_ = e;
    }
  }
  void rethrow() const {
    if (failed_) throw error_;
  }

 private:
  bool failed_ = false;
  Error error_{ErrorKind::Internal, ""};
};

struct ListedBlock {
  int64_t kv0, cols, column;  // first key, width, first column in the row buffer
  bool partial;
};

// The key blocks query block `qb` of (b, h) attends to, in increasing key order.
std::vector<ListedBlock> listed_blocks(const BlockMaskTables& m, int64_t b, int64_t h, int64_t qb) {
  std::vector<ListedBlock> out;
  auto add = [&](const Tensor& num, const Tensor& idx, bool partial) {
    if (!num.defined()) return;
    const int32_t n = table_at(num, b, h, qb);
    for (int32_t j = 0; j < n; ++j) {
      const int64_t kb = table_at(idx, b, h, qb, j);
      const int64_t kv0 = kb * m.kv_block;
      if (kv0 >= m.kv_len) continue;
      out.push_back({kv0, std::min(m.kv_block, m.kv_len - kv0), 0, partial});
    }
  };
  add(m.kv_num_blocks, m.kv_indices, true);
  add(m.full_kv_num_blocks, m.full_kv_indices, false);
  std::sort(out.begin(), out.end(), [](const ListedBlock& a, const ListedBlock& c) { return a.kv0 < c.kv0; });
  int64_t column = 0;
  for (ListedBlock& blk : out) {
    blk.column = column;
    column += blk.cols;
  }
  return out;
}

// Scores of one query block against its listed key blocks, score_mod applied and
// masked entries set to -inf. `raw`, if given, receives the scores before score_mod.
template <typename T>
void compute_scores(const T* q_rows, const T* k_head, int64_t d, const std::vector<ListedBlock>& blocks, int64_t b,
                    int64_t h, int64_t q0, int64_t rows, T scale, const Mods& mods, const Tensor& scores,
                    const Tensor* raw) {
  const int64_t total = scores.size(1);
  T* s = scores.data_ptr<T>();
  for (const ListedBlock& blk : blocks)
    cpu::gemm_raw<T>(false, true, rows, blk.cols, d, scale, q_rows, d, k_head + blk.kv0 * d, d, T(0), s + blk.column,
                     total);
  if (raw != nullptr) std::copy(s, s + rows * total, raw->data_ptr<T>());
  for (const ListedBlock& blk : blocks) {
    const Tile tile{b, h, q0, blk.kv0, rows, blk.cols};
    if (mods.score) mods.score(Tensor::alias(scores, {rows, blk.cols}, {total, 1}, blk.column), tile);
    if (!blk.partial) continue;
    AG_CHECK(mods.mask != nullptr, "flex_attention: the block mask lists partial blocks but has no mask_mod");
    Tensor keep = Tensor::empty({rows, blk.cols}, DType::Bool);
    mods.mask(keep, tile);
    const bool* kp = keep.data_ptr<bool>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < blk.cols; ++c)
        if (!kp[r * blk.cols + c]) s[r * total + blk.column + c] = -std::numeric_limits<T>::infinity();
  }
}

// exp(s - lse) in place; a row with nothing to attend to (lse = -inf) becomes 0.
template <typename T>
void probabilities_row(T* row, int64_t n, T lse) {
  if (lse == -std::numeric_limits<T>::infinity()) {
    std::fill(row, row + n, T(0));
    return;
  }
#pragma omp simd
  for (int64_t c = 0; c < n; ++c) row[c] = cpu::fast::exp(row[c] - lse);
}

// Turns a row of scores into probabilities exp(s - lse); returns lse.
template <typename T>
T softmax_row(T* row, int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t c = 0; c < n; ++c) m = std::max(m, row[c]);
  if (m == -std::numeric_limits<T>::infinity()) {
    std::fill(row, row + n, T(0));
    return m;
  }
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t c = 0; c < n; ++c) sum += cpu::fast::exp(row[c] - m);
  const T lse = m + std::log(sum);
  probabilities_row(row, n, lse);
  return lse;
}

struct Dims {
  int64_t B, H, Sq, Skv, D, Dv, nq;
};

Dims dims_of(const Tensor& q, const Tensor& v, const BlockMaskTables& m) {
  return {q.size(0), q.size(1), q.size(2), v.size(2), q.size(3), v.size(3), (m.q_len + m.q_block - 1) / m.q_block};
}

template <typename T>
void forward_impl(const Tensor& q, const Tensor& k, const Tensor& v, const BlockMaskTables& m, const Mods& mods,
                  T scale, const Tensor& out, const Tensor& lse) {
  const Dims dm = dims_of(q, v, m);
  const T* qp = q.data_ptr<T>();
  const T* kp = k.data_ptr<T>();
  const T* vp = v.data_ptr<T>();
  T* op = out.data_ptr<T>();
  T* lp = lse.data_ptr<T>();
  const int64_t tasks = dm.B * dm.H * dm.nq;
  const int threads = static_cast<int>(std::min<int64_t>(num_threads(), tasks));
  FirstFailure failure;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
  for (int64_t task = 0; task < tasks; ++task) {
    try {
      const int64_t bh = task / dm.nq, qb = task % dm.nq, b = bh / dm.H, h = bh % dm.H;
      const int64_t q0 = qb * m.q_block, rows = std::min(m.q_block, dm.Sq - q0);
      const std::vector<ListedBlock> blocks = listed_blocks(m, b, h, qb);
      const int64_t total = blocks.empty() ? 0 : blocks.back().column + blocks.back().cols;
      T* o_rows = op + (bh * dm.Sq + q0) * dm.Dv;
      T* l_rows = lp + bh * dm.Sq + q0;
      if (total == 0) {
        std::fill(o_rows, o_rows + rows * dm.Dv, T(0));
        std::fill(l_rows, l_rows + rows, -std::numeric_limits<T>::infinity());
        continue;
      }
      Tensor scores = Tensor::empty({rows, total}, q.dtype());
      const T* q_rows = qp + (bh * dm.Sq + q0) * dm.D;
      compute_scores<T>(q_rows, kp + bh * dm.Skv * dm.D, dm.D, blocks, b, h, q0, rows, scale, mods, scores, nullptr);
      T* s = scores.data_ptr<T>();
      for (int64_t r = 0; r < rows; ++r) l_rows[r] = softmax_row(s + r * total, total);
      for (size_t j = 0; j < blocks.size(); ++j)
        cpu::gemm_raw<T>(false, false, rows, dm.Dv, blocks[j].cols, T(1), s + blocks[j].column, total,
                         vp + (bh * dm.Skv + blocks[j].kv0) * dm.Dv, dm.Dv, j == 0 ? T(0) : T(1), o_rows, dm.Dv);
    } catch (Error& e) {
      failure.keep(e);
    }
  }
  failure.rethrow();
}

template <typename T>
void backward_impl(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
                   const Tensor& dout, const BlockMaskTables& m, const Mods& mods, T scale, const Tensor& dq,
                   const Tensor& dk, const Tensor& dv) {
  const Dims dm = dims_of(q, v, m);
  const T* qp = q.data_ptr<T>();
  const T* kp = k.data_ptr<T>();
  const T* vp = v.data_ptr<T>();
  const T* op = out.data_ptr<T>();
  const T* lp = lse.data_ptr<T>();
  const T* gp = dout.data_ptr<T>();
  T *dqp = dq.data_ptr<T>(), *dkp = dk.data_ptr<T>(), *dvp = dv.data_ptr<T>();
  std::fill(dqp, dqp + dq.numel(), T(0));
  std::fill(dkp, dkp + dk.numel(), T(0));
  std::fill(dvp, dvp + dv.numel(), T(0));
  const int64_t tasks = dm.B * dm.H;
  const int threads = static_cast<int>(std::min<int64_t>(num_threads(), tasks));
  FirstFailure failure;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
  for (int64_t bh = 0; bh < tasks; ++bh) {
    try {
      const int64_t b = bh / dm.H, h = bh % dm.H;
      const T* k_head = kp + bh * dm.Skv * dm.D;
      const T* v_head = vp + bh * dm.Skv * dm.Dv;
      T* dk_head = dkp + bh * dm.Skv * dm.D;
      T* dv_head = dvp + bh * dm.Skv * dm.Dv;
      std::vector<T> delta;
      for (int64_t qb = 0; qb < dm.nq; ++qb) {
        const int64_t q0 = qb * m.q_block, rows = std::min(m.q_block, dm.Sq - q0);
        const std::vector<ListedBlock> blocks = listed_blocks(m, b, h, qb);
        if (blocks.empty()) continue;
        const int64_t total = blocks.back().column + blocks.back().cols;
        const T* q_rows = qp + (bh * dm.Sq + q0) * dm.D;
        const T* o_rows = op + (bh * dm.Sq + q0) * dm.Dv;
        const T* g_rows = gp + (bh * dm.Sq + q0) * dm.Dv;
        const T* l_rows = lp + bh * dm.Sq + q0;
        Tensor probs = Tensor::empty({rows, total}, q.dtype());
        Tensor raw = mods.score_grad ? Tensor::empty({rows, total}, q.dtype()) : Tensor();
        compute_scores<T>(q_rows, k_head, dm.D, blocks, b, h, q0, rows, scale, mods, probs,
                          raw.defined() ? &raw : nullptr);
        T* p = probs.data_ptr<T>();
        for (int64_t r = 0; r < rows; ++r) probabilities_row(p + r * total, total, l_rows[r]);
        // dP = dO vᵀ, then dS = P * (dP - rowsum(dO * O)).
        Tensor grad_scores = Tensor::empty({rows, total}, q.dtype());
        T* ds = grad_scores.data_ptr<T>();
        for (const ListedBlock& blk : blocks)
          cpu::gemm_raw<T>(false, true, rows, blk.cols, dm.Dv, T(1), g_rows, dm.Dv, v_head + blk.kv0 * dm.Dv, dm.Dv,
                           T(0), ds + blk.column, total);
        delta.assign(static_cast<size_t>(rows), T(0));
        for (int64_t r = 0; r < rows; ++r) {
          T acc = 0;
          for (int64_t c = 0; c < dm.Dv; ++c) acc += g_rows[r * dm.Dv + c] * o_rows[r * dm.Dv + c];
          delta[static_cast<size_t>(r)] = acc;
        }
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < total; ++c)
            ds[r * total + c] = p[r * total + c] * (ds[r * total + c] - delta[static_cast<size_t>(r)]);
        if (mods.score_grad) {
          for (const ListedBlock& blk : blocks)
            mods.score_grad(Tensor::alias(raw, {rows, blk.cols}, {total, 1}, blk.column),
                            Tensor::alias(grad_scores, {rows, blk.cols}, {total, 1}, blk.column),
                            Tile{b, h, q0, blk.kv0, rows, blk.cols});
          // Masked entries stay out whatever the score_mod's derivative says there.
          for (int64_t i = 0; i < rows * total; ++i)
            if (p[i] == T(0)) ds[i] = T(0);
        }
        T* dq_rows = dqp + (bh * dm.Sq + q0) * dm.D;
        for (const ListedBlock& blk : blocks) {
          cpu::gemm_raw<T>(false, false, rows, dm.D, blk.cols, scale, ds + blk.column, total, k_head + blk.kv0 * dm.D,
                           dm.D, T(1), dq_rows, dm.D);
          cpu::gemm_raw<T>(true, false, blk.cols, dm.D, rows, scale, ds + blk.column, total, q_rows, dm.D, T(1),
                           dk_head + blk.kv0 * dm.D, dm.D);
          cpu::gemm_raw<T>(true, false, blk.cols, dm.Dv, rows, T(1), p + blk.column, total, g_rows, dm.Dv, T(1),
                           dv_head + blk.kv0 * dm.Dv, dm.Dv);
        }
      }
    } catch (Error& e) {
      failure.keep(e);
    }
  }
  failure.rethrow();
}

void check_table(const Tensor& t, const char* name, int64_t B, int64_t H, int64_t nq, int64_t dims) {
  if (!t.defined()) return;
  AG_CHECK(t.dtype() == DType::Int32 && t.dim() == dims && !t.is_meta(),
           "flex_attention: block mask table {} must be an int32 tensor with {} dims, but got {}", name, dims,
           t.describe());
  AG_CHECK((t.size(0) == 1 || t.size(0) == B) && (t.size(1) == 1 || t.size(1) == H) && t.size(2) == nq,
           "flex_attention: block mask table {} is {}, which does not fit batch {}, {} heads and {} query blocks", name,
           t.describe(), B, H, nq);
}

void check_out(const Tensor& t, const Tensor& like, const Shape& sizes, const char* what) {
  AG_CHECK(t.defined() && t.sizes() == sizes && t.dtype() == like.dtype() && t.is_contiguous(),
           "flex_attention: {} must be a contiguous {}{}, but got {}", what, dtype_abbrev(like.dtype()),
           shape_str(sizes), t.defined() ? t.describe() : "an undefined tensor");
}
}  // namespace

void check_inputs(const Tensor& q, const Tensor& k, const Tensor& v, const BlockMaskTables& m) {
  auto check4 = [](const Tensor& t, const char* name) {
    AG_CHECK(t.defined() && t.dim() == 4 && (t.dtype() == DType::Float32 || t.dtype() == DType::Float64),
             "flex_attention: {} must be a float32 or float64 tensor [batch, heads, seq, dim], but got {}", name,
             t.defined() ? t.describe() : "an undefined tensor");
  };
  check4(q, "query");
  check4(k, "key");
  check4(v, "value");
  AG_CHECK(k.dtype() == q.dtype() && v.dtype() == q.dtype(),
           "flex_attention: query, key and value must have one dtype, but got {}, {} and {}", q.describe(),
           k.describe(), v.describe());
  AG_CHECK(k.size(0) == q.size(0) && v.size(0) == q.size(0) && k.size(1) == q.size(1) && v.size(1) == q.size(1),
           "flex_attention: query, key and value must agree on batch and heads, but got {}, {} and {}", q.describe(),
           k.describe(), v.describe());
  AG_CHECK(k.size(3) == q.size(3) && v.size(2) == k.size(2),
           "flex_attention: key must be [B, H, S_kv, {}] and value [B, H, S_kv, Dv] with key's S_kv, but got key {} "
           "and value {}",
           q.size(3), k.describe(), v.describe());
  AG_CHECK(m.q_len == q.size(2) && m.kv_len == k.size(2),
           "flex_attention: the block mask was made for {} queries and {} keys, but the query has {} and the key {} "
           "(make the block mask with create_block_mask for these lengths)",
           m.q_len, m.kv_len, q.size(2), k.size(2));
  AG_CHECK(m.q_block > 0 && m.kv_block > 0, "flex_attention: block sizes must be positive, but got {} and {}",
           m.q_block, m.kv_block);
  const int64_t nq = (m.q_len + m.q_block - 1) / m.q_block;
  AG_CHECK(m.kv_num_blocks.defined() && m.kv_indices.defined(),
           "flex_attention: the block mask has no kv_num_blocks/kv_indices tables");
  check_table(m.kv_num_blocks, "kv_num_blocks", q.size(0), q.size(1), nq, 3);
  check_table(m.kv_indices, "kv_indices", q.size(0), q.size(1), nq, 4);
  check_table(m.full_kv_num_blocks, "full_kv_num_blocks", q.size(0), q.size(1), nq, 3);
  check_table(m.full_kv_indices, "full_kv_indices", q.size(0), q.size(1), nq, 4);
}

void forward(const Tensor& q, const Tensor& k, const Tensor& v, const BlockMaskTables& mask, const Mods& mods,
             double scale, const Tensor& out, const Tensor& lse) {
  check_inputs(q, k, v, mask);
  AG_CHECK(q.is_contiguous() && k.is_contiguous() && v.is_contiguous(),
           "flex_attention: the kernel takes contiguous query, key and value");
  check_out(out, q, {q.size(0), q.size(1), q.size(2), v.size(3)}, "the output");
  check_out(lse, q, {q.size(0), q.size(1), q.size(2)}, "the logsumexp");
  if (q.dtype() == DType::Float32)
    forward_impl<float>(q, k, v, mask, mods, static_cast<float>(scale), out, lse);
  else
    forward_impl<double>(q, k, v, mask, mods, scale, out, lse);
}

void backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
              const Tensor& grad_out, const BlockMaskTables& mask, const Mods& mods, double scale, const Tensor& dq,
              const Tensor& dk, const Tensor& dv) {
  check_inputs(q, k, v, mask);
  AG_CHECK(q.is_contiguous() && k.is_contiguous() && v.is_contiguous() && out.is_contiguous() && lse.is_contiguous() &&
               grad_out.is_contiguous(),
           "flex_attention_backward: the kernel takes contiguous operands");
  check_out(out, q, {q.size(0), q.size(1), q.size(2), v.size(3)}, "the forward's output");
  check_out(grad_out, q, {q.size(0), q.size(1), q.size(2), v.size(3)}, "the output's gradient");
  check_out(lse, q, {q.size(0), q.size(1), q.size(2)}, "the forward's logsumexp");
  check_out(dq, q, q.sizes(), "the query gradient");
  check_out(dk, q, k.sizes(), "the key gradient");
  check_out(dv, q, v.sizes(), "the value gradient");
  if (q.dtype() == DType::Float32)
    backward_impl<float>(q, k, v, out, lse, grad_out, mask, mods, static_cast<float>(scale), dq, dk, dv);
  else
    backward_impl<double>(q, k, v, out, lse, grad_out, mask, mods, scale, dq, dk, dv);
}

}  // namespace aotgrad::ops::flex
