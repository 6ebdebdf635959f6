// Note [Batch shares]
// A compiled inference call (nothing requires grad: no backward, nothing saved or
// mutated) at T > 1 threads runs T programs, one per thread, each compiled for a
// contiguous share of the batch and keeping its values in an arena of its own, where
// the graph's every output row depends only on the same rows of its batch inputs.
// Why: split kernel by kernel (Note [Images split over the threads] in conv.cpp), every
// kernel writes arena memory that the other core wrote last, in another layer's split,
// and on a 2-vCPU VM each cache line so moved costs a cross-core round trip (~0.5 us):
// squeezenet's first convolution, a pool and its concatenations ran slower at 2 threads
// than at 1. A share's values stay in its own core's cache from the first layer to the
// last, and its kernels take the decisions a one-thread run takes (OneThreadHere).
//
// Which values carry the batch in dim 0 is decided op by op (rows_rule): elementwise
// ops whose other operands broadcast over the rows; convolutions, pools, inference
// batch norms and layer norms (over trailing dims) of a batch input; views that keep dim 0; concatenations, slices,
// reductions and softmaxes along other dims; products whose left operand is the batch.
// Any other op that reads a batch value stops the split, and why_not names it; so do
// random ops anywhere (each share would draw its own numbers). Batch inputs are the
// user's inputs (or undescribed placeholders) whose dim 0 is the first one's: calling
// a weight "batch" by that rule is harmless, since a rule only passes where rows of
// every batch-labelled value stay apart.
//
// A share's graph is the graph with the batch made a symbol (dim 0 of every batch
// value, the batch entry of view and expand sizes) and specialised at the share's
// size, so the shape rules check every layout again. The shares' programs are
// compiled on the first inference call at a thread count, and their arenas come on
// top of the forward program's (kept for one-thread calls). A kernel profile
// (ProfileScope, per thread) sees the calling thread's share alone.
#include "compile/batch_shares.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <omp.h>

#include <exception>

#include "aotgrad/autograd.h"
#include "aotgrad/ops.h"
#include "ops/registry.h"
#include "support/error.h"

namespace aotgrad::compile {

bool BatchRows::carries(const graph::Node* n, size_t item) const {
  auto it = rows.find(n);
  return it != rows.end() && item < it->second.size() && it->second[item];
}

namespace {

using graph::Arg;
using graph::Node;
using graph::TensorVal;
using ops::OpId;

const TensorVal* value_of(const Node* n) {
  const auto& items = n->meta.val.items;
  return n->meta.val.kind == graph::FakeVal::Kind::Tensor && !items.empty() && items[0] ? &*items[0] : nullptr;
}

int64_t rank_of(const Node& n) {
  const TensorVal* v = value_of(&n);
  return v != nullptr ? static_cast<int64_t>(v->sizes.size()) : 0;
}

// A dim argument as a dim of a tensor of rank `rank` (-1 where it is no integer).
int64_t dim_arg(const Node& n, size_t i, int64_t rank, int64_t absent = 0) {
  if (i >= n.args().size()) return absent;
  const Arg& a = n.args()[i];
  if (!a.is_int()) return -1;
  const int64_t d = a.to_int();
  return d < 0 ? d + rank : d;
}

// Why the node's batch operands cannot keep their rows apart through it ("" when
// they can); `out` gets the items of its value that carry the batch.
struct RowsRule {
  const Node& n;
  const BatchRows& s;
  std::vector<bool>& out;

  bool batch(size_t i) const { return i < n.args().size() && n.args()[i].is_node() && s.carries(n.args()[i].node()); }
  std::string mixes() const { return fmt::format("'{}' ({}) may mix the batch's rows", n.name(), op().name()); }
  const ops::OpInfo& op() const { return *n.target().op; }
  int64_t in_rank() const { return n.args()[0].is_node() ? rank_of(*n.args()[0].node()) : 0; }

  // Elementwise: batch operands have the result's rank; the others broadcast over the rows.
  std::string pointwise() {
    const int64_t r = rank_of(n);
    for (const Arg& a : n.args()) {
      if (!a.is_node()) continue;
      const TensorVal* v = value_of(a.node());
      if (v == nullptr) return mixes();
      const bool full = static_cast<int64_t>(v->sizes.size()) == r;
      if (s.carries(a.node()) ? !full : full && v->sizes[0] != 1)
        return fmt::format("'{}' ({}) pairs rows of '{}' with the batch's", n.name(), op().name(), a.node()->name());
    }
    out[0] = true;
    return "";
  }

  // Each image alone (convolution, pooling, batch norm with running statistics): the
  // batch is the first operand only; `items` of the result carry it.
  std::string per_image(size_t items) {
    if (!batch(0)) return mixes();
    for (size_t i = 1; i < n.args().size(); ++i)
      if (batch(i)) return mixes();
    for (size_t i = 0; i < items && i < out.size(); ++i) out[i] = true;
    return "";
  }

  // A view or expand: dim 0 stays the batch (sized as it is, or -1). An expand that
  // adds leading dims moves the batch off dim 0, whatever its new dim 0 is sized.
  std::string keeps_dim0() {
    if (n.args().size() < 2 || !n.args()[1].is_list() || n.args()[1].list().empty()) return mixes();
    if (op().id == OpId::expand && static_cast<int64_t>(n.args()[1].list().size()) != in_rank()) return mixes();
    const Arg& first = n.args()[1].list()[0];
    if (!first.is_int() || (first.to_int() != s.batch && first.to_int() != -1)) return mixes();
    out[0] = true;
    return "";
  }

  // An op along dim `d` of the batch operand: fine unless d is the batch's.
  std::string along(int64_t d) {
    if (d <= 0) return mixes();
    std::fill(out.begin(), out.end(), true);
    return "";
  }

  std::string reduction() {
    if (n.args().size() < 2 || !n.args()[1].is_list() || n.args()[1].list().empty()) return mixes();
    for (const Arg& d : n.args()[1].list())
      if (!d.is_int() || (d.to_int() < 0 ? d.to_int() + in_rank() : d.to_int()) <= 0) return mixes();
    out[0] = true;
    return "";
  }

  std::string concat() {
    if (n.args().empty() || !n.args()[0].is_list()) return mixes();
    for (const Arg& a : n.args()[0].list())
      if (!a.is_node() || !s.carries(a.node())) return mixes();
    return along(dim_arg(n, 1, rank_of(n)));
  }

  // mm(batch, weight); addmm(bias, batch, weight) with a bias that broadcasts or is the batch's.
  std::string product(size_t left) {
    if (!batch(left) || batch(left + 1)) return mixes();
    if (left == 1 && !batch(0)) {
      const TensorVal* bias = n.args()[0].is_node() ? value_of(n.args()[0].node()) : nullptr;
      if (bias == nullptr || (bias->sizes.size() == 2 && bias->sizes[0] != 1)) return mixes();
    }
    out[0] = true;
    return "";
  }

  std::string apply();
};

std::string RowsRule::apply() {
  if (op().has(ops::OpTag::Pointwise) && op().kind == ops::OpKind::Compute) return pointwise();
  const int64_t r = in_rank();
  switch (op().id) {
    case OpId::convolution:
    case OpId::avg_pool2d:
    case OpId::_adaptive_avg_pool2d:
    case OpId::_native_batch_norm_legit_no_training:
      return per_image(1);
    case OpId::max_pool2d_with_indices:
      return per_image(2);
    case OpId::native_layer_norm:  // over trailing dims: the result, its means and rstds keep the rows
      return n.args().size() > 1 && n.args()[1].is_list() && static_cast<int64_t>(n.args()[1].list().size()) < r
                 ? per_image(3)
                 : mixes();
    case OpId::_native_batch_norm_legit_functional:  // with running statistics only
      return n.args().size() > 5 && n.args()[5].is_bool() && !n.args()[5].to_bool() ? per_image(1) : mixes();
    case OpId::view:
    case OpId::_unsafe_view:
    case OpId::expand:
      return keeps_dim0();
    case OpId::alias:
    case OpId::detach:
      return along(1);
    case OpId::permute:
      return n.args().size() > 1 && n.args()[1].is_list() && !n.args()[1].list().empty() &&
                     n.args()[1].list()[0].is_int() && n.args()[1].list()[0].to_int() % std::max<int64_t>(r, 1) == 0
                 ? along(1)
                 : mixes();
    case OpId::transpose_int:
      return along(std::min(dim_arg(n, 1, r), dim_arg(n, 2, r)));
    case OpId::unsqueeze:
      return along(dim_arg(n, 1, r + 1));
    case OpId::squeeze_dim:
    case OpId::slice_Tensor:
    case OpId::select_int:
    case OpId::_softmax:
    case OpId::_log_softmax:
      return along(dim_arg(n, 1, r));
    case OpId::split_Tensor:
    case OpId::split_with_sizes:
      return along(dim_arg(n, 2, r));
    case OpId::sum_dim_IntList:
    case OpId::mean_dim:
      return reduction();
    case OpId::cat:
      return concat();
    case OpId::mm:
      return product(0);
    case OpId::addmm:
      return product(1);
    default:
      return mixes();
  }
}

// The rows of one node, or why not.
std::string node_rows(const Node& n, BatchRows& s) {
  const size_t items = n.meta.val.items.size();
  std::vector<bool> out(std::max<size_t>(items, 1), false);
  bool reads_batch = false;
  for (const Arg& a : n.args()) a.for_each_node([&](Node* in) { reads_batch = reads_batch || s.rows.count(in) > 0; });
  for (const auto& [name, a] : n.kwargs())
    a.for_each_node([&](Node* in) { reads_batch = reads_batch || s.rows.count(in) > 0; });
  const graph::Target& t = n.target();
  if (t.kind == graph::Target::Kind::Op && t.op->has(ops::OpTag::Random))
    return fmt::format("'{}' ({}) draws random numbers, which each share would draw anew", n.name(), t.op->name());
  if (!reads_batch) return "";
  if (t.kind == graph::Target::Kind::GetItem) {
    out[0] = s.carries(n.args()[0].node(), static_cast<size_t>(n.args()[1].to_int()));
  } else if (t.kind != graph::Target::Kind::Op) {
    return fmt::format("'{}' ({}) reads the batch as a whole", n.name(), t.qualified());
  } else if (std::string why = RowsRule{n, s, out}.apply(); !why.empty()) {
    return why;
  }
  for (size_t i = 0; i < items; ++i) {
    const auto& item = n.meta.val.items[i];
    if (out[i] && (!item || item->sizes.empty() || item->sizes[0] != s.batch))
      return fmt::format("'{}' ({}) does not keep the batch in dim 0", n.name(), t.qualified());
  }
  if (std::find(out.begin(), out.end(), true) != out.end()) s.rows[&n] = std::move(out);
  return "";
}

// Batch inputs: user inputs (or placeholders without a descriptor) whose dim 0 is the
// first one's.
std::string input_rows(const graph::GraphModule& gm, BatchRows& s) {
  for (const Node* p : gm.graph->placeholders()) {
    if (p->meta.desc && p->meta.desc->kind() != Descriptor::Kind::PlainInput) continue;
    const TensorVal* v = value_of(p);
    if (v == nullptr || v->sizes.empty()) continue;
    if (s.batch == 0) s.batch = v->sizes[0];
    if (v->sizes[0] != s.batch) continue;
    // A share of rows must be one dense block of the input, laid out as the whole is.
    int64_t rest = 1;
    for (size_t d = 1; d < v->sizes.size(); ++d) rest *= v->sizes[d];
    if (v->strides[0] != rest && v->sizes[0] > 1)
      return fmt::format("input '{}' ({}, strides {}) does not hold its rows apart in memory", p->name(), v->str(),
                         fmt::join(v->strides, ", "));
    s.rows[p] = {true};
  }
  if (s.batch < 2) return s.batch == 0 ? "no input has a batch dim" : "the batch has one row";
  return "";
}

}  // namespace

std::variant<BatchRows, std::string> find_batch_rows(const graph::GraphModule& gm) {
  if (!gm.symbols.empty()) return std::string("the graph has symbolic sizes");
  BatchRows s;
  if (std::string why = input_rows(gm, s); !why.empty()) return why;
  for (const auto& node : gm.graph->nodes()) {
    if (node->op() != graph::NodeOp::CallFunction) continue;
    if (std::string why = node_rows(*node, s); !why.empty()) return why;
  }
  return s;
}

std::shared_ptr<graph::GraphModule> at_batch(const graph::GraphModule& gm, const BatchRows& rows, int64_t batch) {
  std::shared_ptr<graph::GraphModule> sym = graph::clone_module(gm);
  const SymExpr symbol = SymExpr::symbol(0);
  auto from = gm.graph->nodes().begin();
  for (const auto& node : sym->graph->nodes()) {
    const Node* original = (from++)->get();
    auto it = rows.rows.find(original);
    if (it == rows.rows.end()) continue;
    for (size_t i = 0; i < it->second.size(); ++i) {
      if (!it->second[i]) continue;
      TensorVal& v = *node->meta.val.items[i];
      v.sym_sizes.assign(v.sizes.begin(), v.sizes.end());
      v.sym_sizes[0] = symbol;
    }
    const graph::Target& t = node->target();
    if (t.kind == graph::Target::Kind::Op &&
        (t.op->id == OpId::view || t.op->id == OpId::_unsafe_view || t.op->id == OpId::expand) &&
        node->args()[1].list()[0].is_int() && node->args()[1].list()[0].to_int() == rows.batch) {
      Arg::List args = node->args();
      args[1].list()[0] = Arg(symbol);
      node->set_args(std::move(args), node->kwargs());
    }
  }
  return graph::specialize(*sym, {{0, batch}});
}

BatchShares::BatchShares(const graph::GraphModule& gm, const BatchRows& rows, int threads,
                         const CompileOptions& options, std::vector<bool> wanted)
    : wanted_(std::move(wanted)) {
  for (const Node* p : gm.graph->placeholders()) batch_inputs_.push_back(rows.carries(p));
  for (const Arg& a : gm.graph->output_node()->args()[0].list())
    batch_outputs_.push_back(a.is_node() && rows.carries(a.node()));
  wanted_.resize(batch_outputs_.size(), true);
  const int shares = static_cast<int>(std::min<int64_t>(threads, rows.batch));
  for (int t = 0; t < shares; ++t) {
    rows_.push_back(thread_share(rows.batch, t, shares));
    const int64_t size = rows_.back().end - rows_.back().begin;
    programs_.push_back(Program::build(*at_batch(gm, rows, size), options));
  }
}

namespace {
// Each batch output's rows, share by share, in one tensor.
Tensor joined(const std::vector<std::vector<Tensor>>& outs, size_t j, const std::vector<Share>& rows) {
  const Tensor& first = outs[0][j];
  if (!first.defined()) return first;
  Shape sizes = first.sizes();
  sizes[0] = rows.back().end;
  Tensor all = Tensor::empty(sizes, first.dtype());
  autograd::NoGradGuard no_grad;
  for (size_t t = 0; t < rows.size(); ++t)
    aotgrad::copy_(aotgrad::narrow(all, 0, rows[t].begin, rows[t].end - rows[t].begin), outs[t][j]);
  return all;
}
}  // namespace

std::vector<Tensor> BatchShares::run(const std::vector<Tensor>& inputs) const {
  const int shares = static_cast<int>(programs_.size());
  std::vector<std::vector<Tensor>> outs(static_cast<size_t>(shares));
  std::vector<std::exception_ptr> failures(static_cast<size_t>(shares));
  auto run_share = [&](int t) {
    OneThreadHere one_thread;
    const Share& r = rows_[static_cast<size_t>(t)];
    std::vector<Tensor> in;
    for (size_t i = 0; i < inputs.size(); ++i)
      in.push_back(batch_inputs_[i] ? aotgrad::narrow(inputs[i], 0, r.begin, r.end - r.begin) : inputs[i]);
    outs[static_cast<size_t>(t)] = programs_[static_cast<size_t>(t)]->run(std::move(in));
  };
#pragma omp parallel num_threads(shares)
  // A team smaller than asked for (inside another parallel region) takes several shares a thread.
  for (int t = omp_get_thread_num(); t < shares; t += omp_get_num_threads()) {
    try {
      run_share(t);
    } catch (...) {
      failures[static_cast<size_t>(t)] = std::current_exception();
    }
  }
  for (const auto& f : failures)
    if (f) std::rethrow_exception(f);
  std::vector<Tensor> out(batch_outputs_.size());
  for (size_t j = 0; j < out.size(); ++j)
    if (wanted_[j]) out[j] = batch_outputs_[j] ? joined(outs, j, rows_) : outs[0][j];
  return out;
}

}  // namespace aotgrad::compile
