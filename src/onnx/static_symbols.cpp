// Following symbolic sizes through a model's shape arithmetic.
//
// Note [Symbolic static values]: exporters compute shapes inside the graph —
// `x.view(x.size(0), -1)` becomes Shape → Gather → Unsqueeze → Concat → Reshape —
// and the importer runs such static nodes on real integer tensors (Note [Static
// values] in onnx_module.cpp). In a symbolic trace those tensors hold the sizes
// the model is traced at, so a Reshape fed from them would fix the batch size in
// the graph. So a static value computed from symbolic sizes also carries each
// element's expression (Value::sym), and Reshape, Expand and ConstantOfShape read
// the expressions (NodeContext::sym_ints).
//
// Shape and Size set the expressions themselves. For the ops that only move
// integers around — Gather, Concat, Slice, Squeeze, Unsqueeze, Reshape, ... — the
// importer does not teach each converter about symbols: it runs the node a second
// time with every symbolic input replaced by distinct tags (2^30 + input·2^20 +
// element), so each output element says which input element it came from. The tags
// are checked against the real run (same shape; a tagged element's traced value
// equals the real output's), so an op that did arithmetic on a tag, or used it as
// an index, is caught rather than misread. Integer + − × ÷ are computed on the
// expressions directly. Anything else computed from symbolic sizes is marked lost
// (Value::sym null): reading it is an error naming the node, never a graph that
// silently holds one size.
#include <deque>
#include <set>

#include "onnx/convert.h"

namespace aotgrad::onnx_io {

namespace {

constexpr int64_t kTagBase = int64_t{1} << 30;
constexpr int64_t kTagStride = int64_t{1} << 20;
constexpr size_t kMaxTaggedInputs = 1000;  // kTagBase + inputs · kTagStride stays below 2^31 (int32 tensors)

const std::set<std::string>& integer_moves() {
  static const std::set<std::string> ops{"Identity", "Cast",    "Gather",    "Concat", "Slice", "Squeeze", "Unsqueeze",
                                         "Reshape",  "Flatten", "Transpose", "Expand", "Tile",  "Split"};
  return ops;
}

bool is_int_list(const Tensor& t) {
  return t.defined() && is_integral(t.dtype()) && t.dtype() != DType::Bool && t.dim() <= 1;
}

// A static value's elements as sizes: its expressions, or its numbers.
SymShape elements(const Value& v) {
  if (v.sym) return *v.sym;
  const std::vector<int64_t> values = v.tensor.to_vector<int64_t>();
  return SymShape(values.begin(), values.end());
}

using Followed = std::shared_ptr<const SymShape>;

// Integer Add, Sub, Mul, Div with broadcasting between 0-d and 1-d operands.
Followed arithmetic(const std::string& op, const Value& a, const Value& b, const Tensor& out) {
  if (!is_int_list(a.tensor) || !is_int_list(b.tensor) || !is_int_list(out)) return nullptr;
  if ((a.symbolic && !a.sym) || (b.symbolic && !b.sym)) return nullptr;
  const SymShape x = elements(a), y = elements(b);
  const std::vector<int64_t> want = out.to_vector<int64_t>();
  const size_t n = want.size();
  if ((x.size() != n && x.size() != 1) || (y.size() != n && y.size() != 1)) return nullptr;
  SymShape result;
  for (size_t k = 0; k < n; ++k) {
    const SymInt& p = x[x.size() == 1 ? 0 : k];
    const SymInt& q = y[y.size() == 1 ? 0 : k];
    if (op == "Div" && (q.hint <= 0 || p.hint < 0)) return nullptr;  // ONNX truncates; // floors: equal only here
    result.push_back(op == "Add" ? p + q : op == "Sub" ? p - q : op == "Mul" ? p * q : floordiv(p, q));
    if (result.back().hint != want[k]) return nullptr;
  }
  return std::make_shared<const SymShape>(std::move(result));
}

// Output `tagged` of the tag run read back against the real output `real`.
Followed read_tags(const Tensor& tagged, const Tensor& real, const std::vector<const SymShape*>& syms) {
  if (!is_int_list(real) || !is_int_list(tagged) || tagged.sizes() != real.sizes()) return nullptr;
  const std::vector<int64_t> tags = tagged.to_vector<int64_t>(), values = real.to_vector<int64_t>();
  SymShape result;
  for (size_t k = 0; k < tags.size(); ++k) {
    const int64_t t = tags[k] - kTagBase;
    const size_t input = t >= 0 ? static_cast<size_t>(t / kTagStride) : syms.size();
    const size_t element = t >= 0 ? static_cast<size_t>(t % kTagStride) : 0;
    if (input < syms.size() && syms[input] && element < syms[input]->size()) {
      const SymInt& e = (*syms[input])[element];
      if (e.hint != values[k]) return nullptr;
      result.push_back(e);
    } else if (tags[k] == values[k]) {
      result.emplace_back(values[k]);  // from an input without symbols
    } else {
      return nullptr;  // computed from a tag: arithmetic this pass does not follow
    }
  }
  return std::make_shared<const SymShape>(std::move(result));
}

std::vector<Followed> by_tags(const OpRow& row, const NodeContext& ctx, const std::vector<const Value*>& inputs,
                              const TensorList& outs, bool float64) {
  std::vector<Followed> lost(outs.size());
  if (inputs.size() > kMaxTaggedInputs) return lost;
  std::deque<Value> tagged;
  std::vector<const Value*> run_inputs;
  std::vector<const SymShape*> syms(inputs.size(), nullptr);
  StaticScope untraced;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value* v = inputs[i];
    if (v == nullptr || !v->symbolic) {
      run_inputs.push_back(v);
      continue;
    }
    if (!v->sym || !is_int_list(v->tensor) || v->tensor.numel() >= kTagStride) return lost;
    std::vector<int64_t> tags(static_cast<size_t>(v->tensor.numel()));
    for (size_t e = 0; e < tags.size(); ++e)
      tags[e] = kTagBase + static_cast<int64_t>(i) * kTagStride + static_cast<int64_t>(e);
    tagged.push_back(Value{to(Tensor::from_vector<int64_t>(tags, v->tensor.sizes()), v->tensor.dtype()), true});
    run_inputs.push_back(&tagged.back());
    syms[i] = v->sym.get();
  }
  TensorList tag_outs;
  try {
    NodeContext again(ctx.node, ctx.opset, run_inputs, float64, ctx.module_training);
    tag_outs = row.convert(again);
  } catch (const Error&) {
    return lost;  // a tag used as an index or a count
  }
  std::vector<Followed> out(outs.size());
  for (size_t k = 0; k < outs.size() && k < tag_outs.size(); ++k) out[k] = read_tags(tag_outs[k], outs[k], syms);
  return out;
}

}  // namespace

std::vector<std::shared_ptr<const SymShape>> follow_symbols(const OpRow& row, const NodeContext& ctx,
                                                            const std::vector<const Value*>& inputs,
                                                            const TensorList& outs, bool float64) {
  const std::string& op = ctx.node.op_type;
  if ((op == "Add" || op == "Sub" || op == "Mul" || op == "Div") && inputs.size() == 2 && inputs[0] && inputs[1] &&
      outs.size() == 1)
    return {arithmetic(op, *inputs[0], *inputs[1], outs[0])};
  if (integer_moves().count(op)) return by_tags(row, ctx, inputs, outs, float64);
  return std::vector<Followed>(outs.size());
}

}  // namespace aotgrad::onnx_io
