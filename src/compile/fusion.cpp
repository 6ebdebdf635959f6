// Fusing float32 elementwise ops into blocked loops (fused_loop.h runs them).
//
// Vertical: an elementwise instruction absorbs the elementwise producers of its
// operands when they compute the same number of elements; the group runs at the
// consumer's place in the schedule. A value made inside a group lives in a
// block-sized register; it is stored to memory only if something outside the group
// reads it or the graph returns it, so one group may have several outputs (the
// optimizer's new parameter, exp_avg and exp_avg_sq, reading the gradient once).
// A producer is absorbed only if nothing outside the two groups reads its results
// before the consumer runs, since the group moves them there.
//
// Horizontal (Note [Multi-tensor loops]): groups that run the same steps on different
// tensors become one loop over all of them, placed where the last of them ran, if
// nothing reads any of their results before that place and none of them writes
// storage another reads.
//
// Operands must be float32 and either the output's size (read flat, so any
// contiguous tensor) or a single element; anything else keeps the op unfused.
#include "compile/fusion.h"

#include <algorithm>
#include <limits>
#include <map>
#include <memory>

#include "compile/fused_loop.h"
#include "compile/straight_line.h"
#include "support/error.h"

namespace aotgrad::compile {

namespace {
constexpr size_t kNever = std::numeric_limits<size_t>::max();

// Which value each tensor operand of an instruction is, in argument order.
std::vector<int> operand_values(const Instruction& ins) {
  std::vector<int> ids;
  for (const auto& p : ins.patches) ids.push_back(p.value);
  return ids;
}

class VerticalFusion {
 public:
  VerticalFusion(std::vector<Value>& values, std::vector<Instruction>& instructions,
                 std::vector<std::vector<int>>& operands, const std::vector<int>& outputs)
      : values_(values), ins_(instructions), operands_(operands), outputs_(outputs) {}

  FusionStats run() {
    FusionStats stats;
    // Writes into inputs (copy_) would make moving a producer later unsafe.
    for (const Instruction& ins : ins_)
      if (ins.op != nullptr && ins.op->kind == ops::OpKind::InPlace) return stats;
    analyse();
    group();
    return emit();
  }

 private:
  std::vector<Value>& values_;
  std::vector<Instruction>& ins_;
  std::vector<std::vector<int>>& operands_;
  const std::vector<int>& outputs_;
  std::vector<Decoded> decoded_;
  std::vector<bool> fusible_, returned_;
  std::vector<int> producer_;
  std::vector<std::vector<size_t>> readers_;  // per value
  std::vector<size_t> group_of_;
  std::vector<std::vector<size_t>> members_;

  int64_t numel_of(int v) const { return shape_numel(values_[static_cast<size_t>(v)].layout.sizes); }

  void analyse() {
    const size_t count = ins_.size();
    decoded_.resize(count);
    fusible_.assign(count, false);
    producer_.assign(values_.size(), -1);
    readers_.assign(values_.size(), {});
    returned_.assign(values_.size(), false);
    for (int v : outputs_)
      if (v >= 0) returned_[static_cast<size_t>(v)] = true;
    for (size_t i = 0; i < count; ++i) {
      for (int v : operands_[i]) readers_[static_cast<size_t>(v)].push_back(i);
      const Instruction& ins = ins_[i];
      for (int r : ins.results)
        if (r >= 0) producer_[static_cast<size_t>(r)] = static_cast<int>(i);
      if (!decode(ins, decoded_[i]) || ins.results.size() != 1 || ins.results[0] < 0 ||
          values_[static_cast<size_t>(ins.results[0])].layout.dtype != DType::Float32)
        continue;
      const int64_t n = numel_of(ins.results[0]);
      bool ok = true;
      for (const IValue& o : decoded_[i].operands) {
        if (o.is_scalar()) continue;
        if (!o.is_tensor() || !o.to_tensor().defined() || o.to_tensor().dtype() != DType::Float32)
          ok = false;
        else if (o.to_tensor().numel() != n && o.to_tensor().numel() != 1)
          ok = false;
        else if (o.to_tensor().numel() == n && !o.to_tensor().is_contiguous())
          ok = false;
      }
      fusible_[i] = ok;
    }
  }

  // Whether every reader of a result of group `g` outside groups g and `into` runs
  // after instruction `at`.
  bool results_read_after(size_t g, size_t into, size_t at) const {
    for (size_t m : members_[g])
      for (int r : ins_[m].results) {
        if (r < 0) continue;
        for (size_t reader : readers_[static_cast<size_t>(r)])
          if (group_of_[reader] != g && group_of_[reader] != into && reader < at) return false;
      }
    return true;
  }

  void group() {
    const size_t count = ins_.size();
    group_of_.resize(count);
    members_.resize(count);
    for (size_t i = 0; i < count; ++i) {
      group_of_[i] = i;
      members_[i] = {i};
    }
    for (size_t c = 0; c < count; ++c) {
      if (!fusible_[c]) continue;
      for (int v : operand_values(ins_[c])) {
        const int p = producer_[static_cast<size_t>(v)];
        if (p < 0 || !fusible_[static_cast<size_t>(p)]) continue;
        const size_t gp = group_of_[static_cast<size_t>(p)], gc = group_of_[c];
        const ValueKind kind = values_[static_cast<size_t>(v)].kind;
        if (gp == gc || numel_of(v) != numel_of(ins_[c].results[0])) continue;
        if (kind != ValueKind::Arena && kind != ValueKind::Fresh) continue;
        if (!results_read_after(gp, gc, c)) continue;
        for (size_t m : members_[gp]) group_of_[m] = gc;
        members_[gc].insert(members_[gc].end(), members_[gp].begin(), members_[gp].end());
        members_[gp].clear();
      }
    }
  }

  // Whether value `v`, made inside group g, must be written to memory.
  bool stored(int v, size_t g) const {
    if (returned_[static_cast<size_t>(v)]) return true;
    for (size_t reader : readers_[static_cast<size_t>(v)])
      if (group_of_[reader] != g) return true;
    return false;
  }

  FusionStats emit() {
    FusionStats stats;
    std::vector<Instruction> out_ins;
    std::vector<std::vector<int>> out_ops;
    for (size_t c = 0; c < ins_.size(); ++c) {
      if (group_of_[c] != c) continue;  // runs inside a later loop
      if (members_[c].size() < 2) {
        out_ins.push_back(std::move(ins_[c]));
        out_ops.push_back(std::move(operands_[c]));
        continue;
      }
      std::vector<size_t> order = members_[c];
      std::sort(order.begin(), order.end());  // schedule order: producers first
      std::vector<int> inputs;
      out_ins.push_back(build_loop(c, order, inputs));
      out_ops.push_back(inputs);
      ++stats.groups;
      stats.ops += static_cast<int64_t>(order.size());
    }
    ins_ = std::move(out_ins);
    operands_ = std::move(out_ops);
    return stats;
  }

  Instruction build_loop(size_t g, const std::vector<size_t>& order, std::vector<int>& inputs) {
    auto loop = std::make_shared<FusedLoop>();
    std::vector<int> step_of_value(values_.size(), -1);
    std::vector<int> stored_values;
    const int64_t n = numel_of(ins_[g].results[0]);
    std::string label = "fused[";
    for (size_t m : order) {
      const Instruction& ins = ins_[m];
      const Decoded& d = decoded_[m];
      Step st{d.formula, {}, {}, d.params, ins.op->name()};
      std::vector<int> ids = operand_values(ins);
      size_t next_id = 0;
      for (size_t k = 0; k < d.operands.size() && k < 2; ++k) {
        Operand o;
        if (d.operands[k].is_scalar()) {
          o.kind = Operand::Kind::Immediate;
          o.value = static_cast<float>(d.operands[k].to_scalar().to_double());
        } else {
          const int v = ids.at(next_id++);
          if (step_of_value[static_cast<size_t>(v)] >= 0) {
            o.kind = Operand::Kind::Step;
            o.index = step_of_value[static_cast<size_t>(v)];
          } else {
            auto it = std::find(inputs.begin(), inputs.end(), v);
            o.index = static_cast<int>(it - inputs.begin());
            if (it == inputs.end()) inputs.push_back(v);
            o.kind = numel_of(v) == 1 && n != 1 ? Operand::Kind::ScalarInput : Operand::Kind::Input;
          }
        }
        (k == 0 ? st.a : st.b) = o;
      }
      if (d.operands.size() == 1) st.b = st.a;
      const int result = ins.results[0];
      step_of_value[static_cast<size_t>(result)] = static_cast<int>(loop->steps.size());
      if (stored(result, g)) {
        loop->stores.push_back(static_cast<int>(loop->steps.size()));
        stored_values.push_back(result);
      }
      loop->steps.push_back(st);
      label += (loop->steps.size() > 1 ? ", " : "") + ins.op->name();
    }
    loop->num_inputs = static_cast<int>(inputs.size());
    const int folded = loop->fold_scalar_multiplies();
    loop->straight_line = find_straight_line(*loop);
    Instruction fused;
    fused.node = ins_[order.front()].node;
    fused.phase = ins_[order.back()].phase;
    if (loop->straight_line != nullptr)
      label += "; straight-line";
    else if (folded > 0)
      label += fmt::format("; {} passes", loop->steps.size());
    fused.label = label + "]";
    for (int v : inputs) {
      fused.patches.push_back({static_cast<int>(fused.args.size()), -1, v});
      fused.args.emplace_back(values_[static_cast<size_t>(v)].meta());
    }
    for (int v : stored_values) {
      fused.result_slots.emplace_back(static_cast<int>(fused.outs.size()), -1);
      fused.outs.emplace_back(values_[static_cast<size_t>(v)].meta());
      fused.results.push_back(v);
    }
    fused.loop = loop;
    fused.kernel = [loop](const Args& a, Outputs& o) { loop->run(a, o); };
    fused.by_address = [loop, numels = loop_numels(fused.args, fused.outs)](const void* const* a, void* const* o) {
      loop->run_at(a, o, numels);
    };
    return fused;
  }
};

class HorizontalFusion {
 public:
  HorizontalFusion(std::vector<Value>& values, std::vector<Instruction>& instructions,
                   std::vector<std::vector<int>>& operands)
      : values_(values), ins_(instructions), operands_(operands) {}

  FusionStats run() {
    FusionStats stats;
    analyse();
    std::map<std::string, std::vector<size_t>> by_signature;
    for (size_t i = 0; i < ins_.size(); ++i)
      if (ins_[i].loop != nullptr) by_signature[ins_[i].loop->signature()].push_back(i);
    std::vector<std::vector<size_t>> sets;
    for (auto& [sig, candidates] : by_signature) {
      std::vector<size_t> current;
      for (size_t i : candidates) {
        if (!current.empty() && !can_join(current, i)) {
          if (current.size() > 1) sets.push_back(current);
          current.clear();
        }
        current.push_back(i);
      }
      if (current.size() > 1) sets.push_back(current);
    }
    if (sets.empty()) return stats;
    std::vector<int> merged_into(ins_.size(), -1);  // member -> the set's last member
    std::vector<size_t> set_of(ins_.size(), kNever);
    for (size_t s = 0; s < sets.size(); ++s)
      for (size_t i : sets[s]) set_of[i] = s;
    std::vector<Instruction> out_ins;
    std::vector<std::vector<int>> out_ops;
    for (size_t i = 0; i < ins_.size(); ++i) {
      if (set_of[i] == kNever) {
        out_ins.push_back(std::move(ins_[i]));
        out_ops.push_back(std::move(operands_[i]));
      } else if (sets[set_of[i]].back() == i) {
        std::vector<int> ops;
        out_ins.push_back(merge(sets[set_of[i]], ops));
        out_ops.push_back(std::move(ops));
        ++stats.groups;
        stats.ops += static_cast<int64_t>(sets[set_of[i]].size());
      }
    }
    ins_ = std::move(out_ins);
    operands_ = std::move(out_ops);
    return stats;
  }

 private:
  std::vector<Value>& values_;
  std::vector<Instruction>& ins_;
  std::vector<std::vector<int>>& operands_;
  std::vector<size_t> first_reader_;  // per instruction: the earliest reader of its results
  std::vector<size_t> writer_of_;     // per value: the instruction that writes into it in place

  void analyse() {
    std::vector<size_t> first_read(values_.size(), kNever);
    for (size_t i = 0; i < ins_.size(); ++i)
      for (int v : operands_[i]) first_read[static_cast<size_t>(v)] = std::min(first_read[static_cast<size_t>(v)], i);
    first_reader_.assign(ins_.size(), kNever);
    writer_of_.assign(values_.size(), kNever);
    for (size_t i = 0; i < ins_.size(); ++i)
      for (int r : ins_[i].results) {
        if (r < 0) continue;
        first_reader_[i] = std::min(first_reader_[i], first_read[static_cast<size_t>(r)]);
        const Value& v = values_[static_cast<size_t>(r)];
        if (v.kind == ValueKind::IntoInput) writer_of_[static_cast<size_t>(v.base)] = i;
      }
  }

  // Whether instruction `i` can join `set`, all of them moving to i's place.
  bool can_join(const std::vector<size_t>& set, size_t i) const {
    for (size_t m : set) {
      if (first_reader_[m] <= i) return false;  // a result would be read before the loop runs
      for (int v : operands_[m]) {
        // An input written in place at or before i (by another instruction, or by i,
        // which becomes another member of the same loop) would be read too late.
        const size_t w = writer_of_[static_cast<size_t>(v)];
        if (w != kNever && w != m && w <= i) return false;
      }
    }
    for (int v : operands_[i]) {
      const size_t w = writer_of_[static_cast<size_t>(v)];
      if (w != kNever && w != i && std::find(set.begin(), set.end(), w) != set.end()) return false;
    }
    return true;
  }

  Instruction merge(const std::vector<size_t>& set, std::vector<int>& ops) {
    Instruction merged;
    merged.loop = ins_[set.front()].loop;
    merged.node = ins_[set.front()].node;
    merged.phase = ins_[set.front()].phase;
    merged.label = fmt::format("multi_tensor[{} x {}]", set.size(), ins_[set.front()].label);
    for (size_t m : set) {
      Instruction& ins = ins_[m];
      const int arg_base = static_cast<int>(merged.args.size());
      for (const auto& p : ins.patches) merged.patches.push_back({p.arg + arg_base, p.element, p.value});
      merged.args.insert(merged.args.end(), ins.args.begin(), ins.args.end());
      const int out_base = static_cast<int>(merged.outs.size());
      for (const auto& slot : ins.result_slots) merged.result_slots.emplace_back(slot.first + out_base, slot.second);
      merged.outs.insert(merged.outs.end(), ins.outs.begin(), ins.outs.end());
      merged.results.insert(merged.results.end(), ins.results.begin(), ins.results.end());
      ops.insert(ops.end(), operands_[m].begin(), operands_[m].end());
    }
    auto loop = merged.loop;
    merged.kernel = [loop](const Args& a, Outputs& o) { loop->run(a, o); };
    merged.by_address = [loop, numels = loop_numels(merged.args, merged.outs)](const void* const* a, void* const* o) {
      loop->run_at(a, o, numels);
    };
    return merged;
  }
};
}  // namespace

FusionStats fuse_pointwise_chains(std::vector<Value>& values, std::vector<Instruction>& instructions,
                                  std::vector<std::vector<int>>& operands, const std::vector<int>& outputs) {
  return VerticalFusion(values, instructions, operands, outputs).run();
}

FusionStats fuse_across_tensors(std::vector<Value>& values, std::vector<Instruction>& instructions,
                                std::vector<std::vector<int>>& operands) {
  return HorizontalFusion(values, instructions, operands).run();
}

}  // namespace aotgrad::compile
