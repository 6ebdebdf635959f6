// Graph -> Program: bind every node's arguments once, propagate run-time layouts
// through the shape rules, fuse elementwise chains, plan memory, and freeze the
// static half of every instruction (Note [Static and dynamic values]).
#include <functional>
#include <unordered_map>

#include "aotgrad/ops.h"
#include "compile/fusion.h"
#include "compile/memory_plan.h"
#include "compile/program.h"
#include "core/allocator.h"
#include "graph/higher_order.h"
#include "ops/collective.h"
#include "ops/dispatch.h"
#include "support/error.h"

namespace aotgrad::compile {

using graph::Node;
using graph::NodeOp;

int64_t Value::bytes() const {
  return shape_numel(layout.sizes) * static_cast<int64_t>(dtype_size(layout.dtype));
}

Tensor Value::meta() const {
  return Tensor::meta(layout.sizes, layout.dtype, layout.strides, layout.offset);
}

namespace {
// Whether anything reads result `count - 1` of op node n: a getitem of it, or a use of
// the whole tuple.
bool last_output_read(const Node& n, size_t count) {
  for (const Node* u : n.users()) {
    if (u->target().kind != graph::Target::Kind::GetItem) return true;
    // (A getitem nothing reads, as a trace leaves for every item, reads nothing.)
    if (static_cast<size_t>(u->args()[1].to_int()) + 1 == count && !u->users().empty()) return true;
  }
  return false;
}
}  // namespace

int storage_root(const std::vector<Value>& values, int v) {
  while (values[static_cast<size_t>(v)].kind == ValueKind::View) v = values[static_cast<size_t>(v)].base;
  return v;
}

class ProgramBuilder {
 public:
  ProgramBuilder(const graph::GraphModule& gm, const CompileOptions& options, Program& p, const LowerAt& at)
      : gm_(gm), options_(options), at_(at), p_(p) {}

  // The stages, in this order (the compile pipeline runs them as the passes "lower",
  // "fuse" and "plan": src/compile/pipeline.cpp).
  void lower_all() {
    // One instruction and a value or two per node: reserved, so no instruction is
    // moved while the program grows (a new size's compile is timed in microseconds).
    const size_t nodes = gm_.graph->nodes().size();
    p_.instructions_.reserve(nodes);
    operands_.reserve(nodes);
    p_.values_.reserve(nodes + nodes / 2);
    for (const auto& n : gm_.graph->nodes()) {
      try {
        lower(*n);
      } catch (Error& e) {
        e.add_context("while compiling node '" + n->name() + "' of " + gm_.name);
        throw;
      }
    }
    mark_escaping();
    for (const auto& n : gm_.graph->nodes()) p_.stats_.nodes += n->op() == NodeOp::CallFunction ? 1 : 0;
  }
  void fuse() {
    if (options_.fuse_epilogues)
      p_.stats_.epilogues = fuse_epilogues(p_.values_, p_.instructions_, operands_, p_.outputs_).groups;
    if (options_.pipeline_images)
      p_.stats_.image_pipelines = pipeline_images(p_.values_, p_.instructions_, operands_, p_.outputs_).groups;
    if (options_.concat_in_place) {
      const FusionStats fs = place_concatenations(p_.values_, p_.instructions_, operands_, p_.outputs_);
      p_.stats_.concatenations_in_place = fs.groups;
      p_.stats_.slices_in_place = fs.ops;
    }
    if (options_.fuse_pointwise) {
      FusionStats fs = fuse_pointwise_chains(p_.values_, p_.instructions_, operands_, p_.outputs_);
      p_.stats_.fused_groups = fs.groups;
      p_.stats_.fused_ops = fs.ops;
    }
    place_updates_in_inputs();
    if (options_.fuse_pointwise) {
      FusionStats fs = fuse_across_tensors(p_.values_, p_.instructions_, operands_);
      p_.stats_.multi_tensor_loops = fs.groups;
      p_.stats_.multi_tensor_members = fs.ops;
      fs = batch_single_element_ops(p_.values_, p_.instructions_, operands_, p_.outputs_);
      p_.stats_.single_element_batches = fs.groups;
      p_.stats_.single_element_ops = fs.ops;
    }
  }
  void plan() {
    plan_memory();
    freeze();
  }

 private:
  int add_value(Value v) {
    p_.values_.push_back(std::move(v));
    return static_cast<int>(p_.values_.size()) - 1;
  }
  Tensor meta_of(int v) const { return p_.values_[static_cast<size_t>(v)].meta(); }

  void lower(const Node& n) {
    switch (n.op()) {
      case NodeOp::Placeholder: {
        AG_CHECK(n.meta.val.kind == graph::FakeVal::Kind::Tensor, "placeholder '{}' has no tensor value (meta val)",
                 n.name());
        Value v;
        v.kind = ValueKind::Input;
        v.layout = graph::value_at(n, at_.bindings, at_.input_layouts).as_tensor();
        v.input_index = static_cast<int>(p_.inputs_.size());
        v.name = n.name();
        int id = add_value(std::move(v));
        p_.inputs_.push_back(id);
        single_[&n] = id;
        return;
      }
      case NodeOp::GetAttr: {
        if (gm_.subgraph(n.target().name) != nullptr) return;  // read by a higher-order op's lowering
        const Tensor* c = gm_.constant(n.target().name);
        AG_CHECK(c != nullptr, "no constant '{}'", n.target().name);
        Value v;
        v.kind = ValueKind::Constant;
        v.layout = graph::TensorVal::of(*c);
        v.fixed = *c;
        v.name = n.name();
        single_[&n] = add_value(std::move(v));
        return;
      }
      case NodeOp::Output: {
        for (const graph::Arg& a : n.args()[0].list()) p_.outputs_.push_back(a.is_node() ? value_of(a.node()) : -1);
        return;
      }
      case NodeOp::CallFunction:
        break;
    }
    if (n.target().kind == graph::Target::Kind::GetItem) {
      const auto& items = tuples_.at(n.args()[0].node());
      const auto i = static_cast<size_t>(n.args()[1].to_int());
      AG_CHECK(i < items.size(), "getitem {} of '{}', which has {} results", i, n.args()[0].node()->name(),
               items.size());
      single_[&n] = items[i];  // -1: an output the op did not compute (None)
      return;
    }
    if (n.target().kind == graph::Target::Kind::HigherOrder) {
      lower_higher_order(n);
      return;
    }
    AG_CHECK(n.target().kind == graph::Target::Kind::Op, "cannot compile a call to {}", n.target().qualified());
    const ops::OpInfo& op = *n.target().op;
    AG_CHECK(op.kind != ops::OpKind::Composite,
             "{} is a composite op; graphs hold only the ops it decomposes into (re-export the graph)",
             op.qualified_name());
    AG_CHECK(op.kind == ops::OpKind::View || op.kernel != nullptr, "{} has no CPU kernel", op.qualified_name());

    // Bind arguments on meta tensors carrying each operand's run-time layout.
    std::unordered_map<const TensorImpl*, int> operand_of;
    std::vector<int> operands;
    Instruction ins;
    ins.op = &op;
    ins.node = n.name();
    ins.label = op.schema.dotted_name();
    ins.phase = phase_of(n);
    ins.args = graph::bind_op_args(
        n,
        [&](const Node* x) {
          int id = value_of(x);
          if (id < 0) return IValue(Tensor());
          Tensor t = meta_of(id);
          operand_of[t.impl()] = id;
          operands.push_back(id);
          return IValue(t);
        },
        at_.bindings);
    ins.outs = ops::run_shape(op, ins.args);
    // Remember where every operand sits, to patch or freeze it later.
    for (size_t a = 0; a < ins.args.size(); ++a) {
      if (ins.args[a].is_tensor() && ins.args[a].to_tensor().defined()) {
        ins.patches.push_back({static_cast<int>(a), -1, operand_of.at(ins.args[a].to_tensor().impl())});
      } else if (ins.args[a].is_tensor_list()) {
        const TensorList& l = ins.args[a].to_tensor_list();
        for (size_t e = 0; e < l.size(); ++e)
          if (l[e].defined())
            ins.patches.push_back({static_cast<int>(a), static_cast<int>(e), operand_of.at(l[e].impl())});
      }
    }
    // One value per output tensor.
    const int self = op.kind == ops::OpKind::Compute ? -1 : ins.patches.at(0).value;
    auto result_of = [&](const Tensor& t) -> int {
      if (!t.defined()) return -1;
      if (op.kind == ops::OpKind::InPlace) return self;
      Value v;
      v.name = n.name();
      if (op.kind == ops::OpKind::View) {
        v.kind = ValueKind::View;
        v.base = self;
        v.layout = graph::TensorVal::of(t);
      } else {
        v.kind = ValueKind::Arena;
        v.layout = {t.sizes(), contiguous_strides(t.sizes()), 0, t.dtype(), {}};
      }
      return add_value(std::move(v));
    };
    for (size_t o = 0; o < ins.outs.size(); ++o) {
      const IValue& out = ins.outs[o];
      if (out.is_tensor()) {
        ins.results.push_back(result_of(out.to_tensor()));
        ins.result_slots.emplace_back(static_cast<int>(o), -1);
      } else if (out.is_tensor_list()) {
        const TensorList& l = out.to_tensor_list();
        for (size_t e = 0; e < l.size(); ++e) {
          ins.results.push_back(result_of(l[e]));
          ins.result_slots.emplace_back(static_cast<int>(o), static_cast<int>(e));
        }
      } else {
        ins.results.push_back(-1);
        ins.result_slots.emplace_back(static_cast<int>(o), -1);
      }
    }
    if (op.has(ops::OpTag::LastOutputOptional) && !last_output_read(n, ins.results.size())) {
      // Nobody reads it: the kernel gets no tensor for it and skips its work.
      ins.results.back() = -1;
      set_slot(ins.outs, ins.result_slots.back(), Tensor());
    }
    check_against_graph(n, ins);
    if (op.schema.returns.size() == 1 && ins.outs.size() == 1 && ins.outs[0].is_tensor())
      single_[&n] = ins.results[0];
    else
      tuples_[&n] = ins.results;
    if (op.kind == ops::OpKind::View)
      ins.view_of = self;
    else
      ins.kernel = op.kernel;
    p_.instructions_.push_back(std::move(ins));
    operands_.push_back(std::move(operands));
  }

  // A higher-order op becomes one instruction: its tensor operands are patched in like
  // any op's, its results get arena values shaped as the node records them, and the
  // kernel runs the op (an invoke_subgraph through a Program of its own).
  void lower_higher_order(const Node& n) {
    auto call = std::make_shared<const graph::HigherOrderCall>(gm_, n);
    Instruction ins;
    ins.higher_order = true;
    ins.node = n.name();
    ins.label = "higher_order." + call->op();
    std::vector<int> operands;
    for (const Node* x : call->operands()) {
      const int id = value_of(x);
      ins.patches.push_back({static_cast<int>(ins.args.size()), -1, id});
      ins.args.emplace_back(meta_of(id));
      operands.push_back(id);
    }
    AG_CHECK(n.meta.val.kind == graph::FakeVal::Kind::Tuple,
             "higher-order node '{}' has no tuple value (meta val) to shape its results", n.name());
    for (size_t i = 0; i < n.meta.val.items.size(); ++i) {
      const auto& item = n.meta.val.items[i];
      ins.outs.emplace_back(Tensor());
      ins.result_slots.emplace_back(static_cast<int>(i), -1);
      if (!item) {
        ins.results.push_back(-1);
        continue;
      }
      Value v;
      v.kind = ValueKind::Arena;
      v.name = n.name();
      const Shape sizes = sizes_at(*item);
      v.layout = {sizes, contiguous_strides(sizes), 0, item->dtype, {}};
      ins.results.push_back(add_value(std::move(v)));
    }
    std::function<std::vector<Tensor>(const std::vector<Tensor>&)> run = [call](const std::vector<Tensor>& in) {
      return call->run(in);
    };
    if (call->invoked() != nullptr && subgraph_takes_layouts(*call->invoked(), operands)) {
      std::shared_ptr<const Program> body = Program::build(*call->invoked(), options_);
      run = [body](const std::vector<Tensor>& in) { return body->run(in); };
    }
    ins.kernel = [run, node = n.name()](const Args& args, Outputs& outs) {
      std::vector<Tensor> in;
      for (const IValue& a : args) in.push_back(a.to_tensor());
      std::vector<Tensor> results = run(in);
      AG_CHECK(results.size() == outs.size(), "higher-order node '{}' returned {} results, but the graph records {}",
               node, results.size(), outs.size());
      for (size_t i = 0; i < outs.size(); ++i) {
        const Tensor& dst = outs[i].to_tensor();
        if (!dst.defined()) continue;
        AG_CHECK(results[i].defined() && results[i].sizes() == dst.sizes() && results[i].dtype() == dst.dtype(),
                 "higher-order node '{}': result {} is {}, but the graph records {}", node, i,
                 results[i].defined() ? results[i].describe() : "None", dst.describe());
        copy_(dst, results[i]);
      }
    };
    tuples_[&n] = ins.results;
    p_.instructions_.push_back(std::move(ins));
    operands_.push_back(std::move(operands));
  }

  // Whether a subgraph's placeholders have exactly the operands' run-time layouts (a
  // Program checks its inputs' strides).
  bool subgraph_takes_layouts(const graph::GraphModule& sub, const std::vector<int>& operands) const {
    const auto ph = sub.graph->placeholders();
    if (ph.size() != operands.size()) return false;
    for (size_t i = 0; i < ph.size(); ++i) {
      if (ph[i]->meta.val.kind != graph::FakeVal::Kind::Tensor) return false;
      const graph::TensorVal& want = ph[i]->meta.val.as_tensor();
      const graph::TensorVal& got = p_.values_[static_cast<size_t>(operands[i])].layout;
      if (want.sizes != got.sizes || want.strides != got.strides || want.dtype != got.dtype) return false;
    }
    return true;
  }

  // An edited graph may carry a stale meta["val"]; the shape rules are the truth.
  void check_against_graph(const Node& n, const Instruction& ins) const {
    const auto& items = n.meta.val.items;
    if (items.size() != ins.results.size()) return;  // no (or differently shaped) record: nothing to compare
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i] || ins.results[i] < 0) continue;
      const graph::TensorVal& got = p_.values_[static_cast<size_t>(ins.results[i])].layout;
      AG_CHECK(has_sizes_at(*items[i], got.sizes) && got.dtype == items[i]->dtype,
               "the graph records output {} as {}{}, but the op's shape rule gives {}{} (was the graph edited "
               "without updating meta['val']?)",
               i, items[i]->str(), at_.bindings.empty() ? "" : ", " + shape_str(sizes_at(*items[i])) + " here",
               dtype_abbrev(got.dtype), shape_str(got.sizes));
    }
  }

  // Whether a recorded value has `sizes` where the graph is lowered (no copy: it runs
  // for every node of every compile).
  bool has_sizes_at(const graph::TensorVal& t, const Shape& sizes) const {
    if (t.sym_sizes.empty()) return t.sizes == sizes;
    if (t.sym_sizes.size() != sizes.size()) return false;
    for (size_t d = 0; d < sizes.size(); ++d)
      if (t.sym_sizes[d].evaluate(at_.bindings) != sizes[d]) return false;
    return true;
  }
  // A recorded value's sizes where the graph is lowered (Note [Lowering at a size]).
  Shape sizes_at(const graph::TensorVal& t) const {
    if (t.sym_sizes.empty()) return t.sizes;
    Shape sizes(t.sym_sizes.size());
    for (size_t d = 0; d < sizes.size(); ++d) sizes[d] = t.sym_sizes[d].evaluate(at_.bindings);
    return sizes;
  }

  // A whole-step graph's "train_step" annotation, which profiles group kernels by.
  static std::string phase_of(const Node& n) {
    for (const auto& [key, value] : n.meta.custom)
      if (key == "train_step" && std::holds_alternative<std::string>(value)) return std::get<std::string>(value);
    return "";
  }

  int value_of(const Node* n) const {
    auto it = single_.find(n);
    AG_CHECK(it != single_.end(), "'{}' is used as a tensor, but it is {}", n->name(),
             tuples_.count(n) ? "a tuple (read it with getitem)" : "not a tensor value");
    return it->second;
  }

  int root_of(int v) const { return storage_root(p_.values_, v); }

  // Outputs leave the run: their storage must be their own, not the arena's.
  void mark_escaping() {
    for (int v : p_.outputs_) {
      if (v < 0) continue;
      Value& root = p_.values_[static_cast<size_t>(root_of(v))];
      if (root.kind == ValueKind::Arena) root.kind = ValueKind::Fresh;
    }
  }

  // Note [Updates in place]: a graph output that is the new value of one of its inputs
  // (InputMutationAOTOutput: a parameter, an optimizer state, a running statistic) is
  // computed straight into that input's storage when that is safe: its producer is
  // elementwise (it reads element i of each same-layout operand before writing element
  // i), it has the input's exact layout, the producer reads the input only directly
  // (not through a view or broadcast), and nothing reads the input after the producer.
  // Otherwise the output gets storage of its own and the caller copies it back.
  void place_updates_in_inputs() {
    const graph::Node* out = gm_.graph->output_node();
    if (out == nullptr || out->meta.out_descs.size() != p_.outputs_.size()) return;
    const auto placeholders = gm_.graph->placeholders();
    std::vector<size_t> last_read(p_.values_.size(), 0);
    std::vector<int> producer(p_.values_.size(), -1), returned(p_.values_.size(), 0);
    for (size_t i = 0; i < p_.instructions_.size(); ++i) {
      for (int u : operands_[i]) {
        const auto root = static_cast<size_t>(root_of(u));
        last_read[root] = std::max(last_read[root], i);
      }
      for (int r : p_.instructions_[i].results)
        if (r >= 0) producer[static_cast<size_t>(r)] = static_cast<int>(i);
    }
    for (int v : p_.outputs_)
      if (v >= 0) ++returned[static_cast<size_t>(v)];
    for (size_t o = 0; o < p_.outputs_.size(); ++o) {
      const auto& d = out->meta.out_descs[o];
      const int v = p_.outputs_[o];
      if (!d || d->kind() != Descriptor::Kind::InputMutationOutput || v < 0 || returned[static_cast<size_t>(v)] != 1)
        continue;
      int in = -1;
      for (size_t k = 0; k < placeholders.size(); ++k)
        if (placeholders[k]->meta.desc && *placeholders[k]->meta.desc == d->inner()) in = p_.inputs_[k];
      Value& val = p_.values_[static_cast<size_t>(v)];
      const int at = producer[static_cast<size_t>(v)];
      if (in < 0 || at < 0 || val.kind != ValueKind::Fresh || val.layout != p_.values_[static_cast<size_t>(in)].layout)
        continue;
      const Instruction& ins = p_.instructions_[static_cast<size_t>(at)];
      const bool elementwise = ins.loop != nullptr || writes_elementwise(ins);
      if (!elementwise || last_read[static_cast<size_t>(in)] > static_cast<size_t>(at)) continue;
      bool direct = true;
      for (int u : operands_[static_cast<size_t>(at)]) direct = direct && (root_of(u) != in || u == in);
      if (!direct) continue;
      val.kind = ValueKind::IntoInput;
      val.base = in;
      ++p_.stats_.outputs_in_place;
    }
  }

  void plan_memory() {
    const auto& ins = p_.instructions_;
    const size_t end = ins.size();
    std::vector<size_t> def(p_.values_.size(), end), last(p_.values_.size(), 0);
    std::vector<bool> used(p_.values_.size(), false);
    for (size_t i = 0; i < ins.size(); ++i) {
      for (int r : ins[i].results) {
        if (r < 0) continue;
        if (def[static_cast<size_t>(r)] == end) def[static_cast<size_t>(r)] = i;
        // A view's writer (Note [Concatenations in place]) writes its storage.
        const auto root = static_cast<size_t>(root_of(r));
        if (root != static_cast<size_t>(r) && ins[i].view_of < 0) def[root] = std::min(def[root], i);
      }
      for (int v : operands_[i]) {
        last[static_cast<size_t>(v)] = i;
        used[static_cast<size_t>(v)] = true;
        const auto root = static_cast<size_t>(root_of(v));
        last[root] = std::max(last[root], i);
      }
    }
    // A collective that reads its input until its result is waited for
    // (ops::reads_input_until_waited) keeps the input alive until that wait; one
    // whose result nothing waits for keeps the result to the end, since the
    // communication thread may still be writing it.
    for (size_t i = 0; i < ins.size(); ++i) {
      if (ins[i].op == nullptr || !ins[i].op->has(ops::OpTag::Collective)) continue;
      const int r = ins[i].results.empty() ? -1 : ins[i].results[0];
      if (r < 0) continue;
      if (!used[static_cast<size_t>(r)]) {
        last[static_cast<size_t>(r)] = ins.size() - 1;
        used[static_cast<size_t>(r)] = true;
      }
      if (!ops::reads_input_until_waited(*ins[i].op)) continue;
      for (int v : operands_[i]) {
        const auto root = static_cast<size_t>(root_of(v));
        last[static_cast<size_t>(v)] = std::max(last[static_cast<size_t>(v)], last[static_cast<size_t>(r)]);
        last[root] = std::max(last[root], last[static_cast<size_t>(r)]);
      }
    }
    // An input updated in place lives until its new value is written.
    for (size_t v = 0; v < p_.values_.size(); ++v) {
      const Value& val = p_.values_[v];
      if (val.kind != ValueKind::IntoInput || def[v] == end) continue;
      const auto in = static_cast<size_t>(val.base);
      last[in] = std::max(last[in], def[v]);
      used[in] = true;
    }
    std::vector<bool> is_output(p_.values_.size(), false);
    for (int v : p_.outputs_)
      if (v >= 0) is_output[static_cast<size_t>(v)] = true;
    // Arena values: lifetimes, and the elementwise ops that may write over a dying input.
    std::vector<PlannedBuffer> buffers;
    std::vector<int> buffer_value;
    for (size_t v = 0; v < p_.values_.size(); ++v) {
      // (A value no instruction makes was fused away: it lives in a loop's registers.)
      if (p_.values_[v].kind != ValueKind::Arena || def[v] == end) continue;
      buffers.push_back({p_.values_[v].bytes(), def[v], std::max(last[v], def[v]), -1});
      buffer_value.push_back(static_cast<int>(v));
    }
    std::unordered_map<int, size_t> buffer_of;
    for (size_t b = 0; b < buffer_value.size(); ++b) buffer_of[buffer_value[b]] = b;
    if (options_.reuse_buffers) {
      for (size_t i = 0; i < ins.size(); ++i) {
        if (!writes_elementwise(ins[i])) continue;
        const int out = ins[i].results[0];
        if (!buffer_of.count(out)) continue;
        const Value& o = p_.values_[static_cast<size_t>(out)];
        for (int v : operands_[i]) {
          const Value& in = p_.values_[static_cast<size_t>(v)];
          if (!buffer_of.count(v) || last[static_cast<size_t>(v)] != i || in.layout != o.layout) continue;
          PlannedBuffer& src = buffers[buffer_of.at(v)];
          if (src.reused_by >= 0) continue;
          buffers[buffer_of.at(out)].reuse_of = static_cast<int64_t>(buffer_of.at(v));
          src.reused_by = static_cast<int64_t>(buffer_of.at(out));
          ++p_.stats_.reused_in_place;
          break;
        }
      }
    }
    MemoryPlan plan = plan_arena(buffers);
    p_.stats_.arena_bytes = plan.arena_bytes;
    for (size_t b = 0; b < buffers.size(); ++b) {
      const PlannedBuffer& pb = buffers[b];
      // A buffer taken over in place ends where its successor starts.
      const size_t last = pb.reused_by >= 0 ? buffers[static_cast<size_t>(pb.reused_by)].first - 1 : pb.last;
      p_.stats_.arena_buffers.push_back(
          {p_.values_[static_cast<size_t>(buffer_value[b])].name, pb.bytes, pb.first, std::max(pb.first, last)});
    }
    for (const PlannedBuffer& b : buffers) p_.stats_.unplanned_bytes += b.bytes;
    void* arena = allocate_storage(static_cast<size_t>(std::max<int64_t>(plan.arena_bytes, 1)));
    const auto arena_bytes = static_cast<size_t>(std::max<int64_t>(plan.arena_bytes, 1));
    p_.arena_ = std::shared_ptr<void>(arena, [arena_bytes](void* d) { free_storage(d, arena_bytes); });
    for (size_t b = 0; b < buffers.size(); ++b) {
      Value& v = p_.values_[static_cast<size_t>(buffer_value[b])];
      auto storage = std::make_shared<Storage>(static_cast<char*>(arena) + plan.offsets[b], v.bytes(), p_.arena_);
      v.fixed = Tensor::from_storage(std::move(storage), v.layout.sizes, v.layout.strides, 0, v.layout.dtype);
    }
    // Release dynamic values after their last read (outputs are returned instead).
    for (size_t v = 0; v < p_.values_.size(); ++v) {
      if (is_output[v] || !is_dynamic(static_cast<int>(v))) continue;
      if (used[v])
        p_.instructions_[last[v]].release.push_back(static_cast<int>(v));
      else if (p_.values_[v].kind == ValueKind::Input)
        p_.release_at_start_.push_back(static_cast<int>(v));
    }
  }

  // Inputs, per-run allocations and views of them (Note [Static and dynamic values]).
  bool is_dynamic(int v) const {
    const ValueKind k = p_.values_[static_cast<size_t>(root_of(v))].kind;
    return k == ValueKind::Input || k == ValueKind::Fresh || k == ValueKind::IntoInput;
  }

  // Whether an instruction reads element i of each same-layout operand before writing
  // element i of its single output, so the output may share a dying operand's buffer.
  bool writes_elementwise(const Instruction& ins) const {
    if (ins.results.size() != 1 || ins.results[0] < 0) return false;
    if (ins.op == nullptr) return ins.loop != nullptr;  // a fused elementwise group
    // all_reduce and wait_tensor copy their input into their same-shaped output first
    // (ops/cpu/collective.cpp), so theirs may share a dying input's buffer too: the
    // bucket is reduced where it was packed, and wait_tensor hands it on without a copy.
    const bool same_shape_collective =
        ins.op->id == ops::OpId::c10d_all_reduce || ins.op->id == ops::OpId::c10d_wait_tensor;
    return (ins.op->has(ops::OpTag::Pointwise) || same_shape_collective) && ins.op->kind == ops::OpKind::Compute;
  }

  // Static values get their tensors; instructions keep only dynamic patches.
  void freeze() {
    for (Value& v : p_.values_) {
      if (v.kind != ValueKind::View || v.fixed.defined()) continue;
      const Value& base = p_.values_[static_cast<size_t>(v.base)];
      if (base.fixed.defined()) v.fixed = Tensor::alias(base.fixed, v.layout.sizes, v.layout.strides, v.layout.offset);
    }
    std::vector<Instruction> kept;
    for (Instruction& ins : p_.instructions_) {
      if (ins.view_of >= 0 && p_.values_[static_cast<size_t>(ins.view_of)].is_static()) {
        AG_INTERNAL_CHECK(ins.release.empty(), "a static view releases values");
        continue;  // computed once, above
      }
      std::vector<Instruction::Patch> dynamic;
      for (const auto& patch : ins.patches) {
        const Value& v = p_.values_[static_cast<size_t>(patch.value)];
        Tensor t = v.is_static() ? v.fixed : Tensor();
        if (patch.element < 0)
          ins.args[static_cast<size_t>(patch.arg)] = IValue(t);
        else
          ins.args[static_cast<size_t>(patch.arg)].to_tensor_list()[static_cast<size_t>(patch.element)] = t;
        if (!v.is_static()) dynamic.push_back(patch);
      }
      ins.patches = std::move(dynamic);
      for (size_t r = 0; r < ins.results.size(); ++r) {
        if (ins.results[r] < 0) continue;
        const Value& v = p_.values_[static_cast<size_t>(ins.results[r])];
        if (ins.view_of >= 0 || (ins.op != nullptr && ins.op->kind != ops::OpKind::Compute)) continue;
        set_slot(ins.outs, ins.result_slots[r], v.is_static() ? v.fixed : Tensor());
      }
      if (ins.by_address) static_addresses(ins);
      kept.push_back(std::move(ins));
    }
    p_.instructions_ = std::move(kept);
    for (const Instruction& ins : p_.instructions_) p_.stats_.kernels += ins.view_of < 0 ? 1 : 0;
  }

  // Note [Operands by address]: the static operands' data, where they always are.
  static void static_addresses(Instruction& ins) {
    auto address = [](const IValue& a) -> void* {
      AG_INTERNAL_CHECK(a.is_tensor(), "an instruction run by address has a non-tensor operand");
      const Tensor& t = a.to_tensor();
      return t.defined() && !t.is_meta() ? const_cast<void*>(t.raw_data()) : nullptr;
    };
    ins.arg_addresses.clear();
    ins.out_addresses.clear();
    for (const IValue& a : ins.args) ins.arg_addresses.push_back(address(a));
    for (const IValue& o : ins.outs) ins.out_addresses.push_back(address(o));
    for (const auto& p : ins.patches)
      AG_INTERNAL_CHECK(p.element < 0, "an instruction run by address patches a list element");
  }

  static void set_slot(Outputs& outs, std::pair<int, int> slot, const Tensor& t) {
    IValue& o = outs[static_cast<size_t>(slot.first)];
    if (slot.second < 0)
      o = IValue(t);
    else
      o.to_tensor_list()[static_cast<size_t>(slot.second)] = t;
  }

  const graph::GraphModule& gm_;
  const CompileOptions& options_;
  const LowerAt& at_;
  Program& p_;
  std::unordered_map<const Node*, int> single_;
  std::unordered_map<const Node*, std::vector<int>> tuples_;
  std::vector<std::vector<int>> operands_;  // per instruction: every value it reads
};

ProgramDraft::ProgramDraft(std::shared_ptr<const graph::GraphModule> gm, const CompileOptions& options, LowerAt at)
    : gm_(std::move(gm)),
      options_(options),
      at_(std::move(at)),
      program_(std::make_unique<Program>()),
      builder_(std::make_unique<ProgramBuilder>(*gm_, options_, *program_, at_)) {}
ProgramDraft::~ProgramDraft() = default;
void ProgramDraft::lower() {
  builder_->lower_all();
}
void ProgramDraft::fuse() {
  builder_->fuse();
}
void ProgramDraft::plan() {
  builder_->plan();
}
std::unique_ptr<Program> ProgramDraft::finish() {
  builder_.reset();
  return std::move(program_);
}

std::unique_ptr<Program> Program::build(const graph::GraphModule& gm, const CompileOptions& options) {
  auto p = std::make_unique<Program>();
  const LowerAt fixed;
  ProgramBuilder b(gm, options, *p, fixed);
  b.lower_all();
  b.fuse();
  b.plan();
  return p;
}

}  // namespace aotgrad::compile
