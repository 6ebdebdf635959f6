// Note [Single-element batches]: a training step computes hundreds of one-element
// values (an optimizer's bias corrections from each parameter's own `step`: eleven
// ops per parameter). As kernel calls of their own, interleaved with the large
// kernels, each one runs with cold caches and costs far more than its arithmetic
// (0.4 us a call in convnet's step, cache misses on scattered tensors). This pass
// moves each such op as early as its operands allow, into one instruction that
// evaluates all of them on numbers held together in one small array: it reads each
// outside operand once, and writes only the values something outside reads.
//
// A member must be a single-element op that declares a formula (Note [One formula
// per elementwise op]), computing float32 or float64 from float32 or float64
// operands. It is evaluated as that op's kernel evaluates one element: operands
// converted to the result's dtype, then the formula in that dtype, so the results
// are those of the unbatched program.
//
// An op joins the open batch if every operand is made before the batch or inside
// it, it belongs to the batch's phase of the step, and it does not write into an
// input (Note [Updates in place]) that an instruction between the batch and its own
// place still reads. An in-place op (copy_) closes the open batch: nothing moves
// across a write the operand lists do not show.
#include <map>
#include <memory>

#include "compile/fused_loop.h"
#include "compile/fusion.h"
#include "ops/cpu/formulas.h"
#include "support/error.h"

namespace aotgrad::compile {

namespace {
bool floating_scalar(const graph::TensorVal& l) {
  return shape_numel(l.sizes) == 1 && (l.dtype == DType::Float32 || l.dtype == DType::Float64);
}

// Every number of a batch is held as a double: float32 and float64 values both
// convert to it exactly, so each op still sees its operands' exact values.
struct ScalarOperand {
  bool is_slot = true;
  int slot = 0;  // inputs first, then one slot per step
  /// An immediate (add's `other` when it is a number), already converted to the step's
  /// dtype as the kernels read a number operand (ops/cpu/pointwise.cpp, one_value).
  double number = 0;
};
struct ScalarStep;
using ScalarEval = double (*)(const ScalarStep& s, const double* slots);
struct ScalarStep {
  Formula formula;
  FormulaParams params;
  DType dtype;  // the result's, which the op computes in
  ScalarOperand a, b;
  ScalarEval eval = nullptr;  // the formula in `dtype`, chosen once when the batch is built
};
struct ScalarProgram {
  int num_inputs = 0;
  std::vector<ScalarStep> steps;
  std::vector<int> stores;                 // per output: its slot
  std::vector<char> input_f64, store_f64;  // per input and output: float64, else float32

  void run(const Args& args, Outputs& outs) const;
  void run_at(const void* const* args, void* const* outs) const;  // Note [Operands by address]
};

template <typename T>
T operand_as(const ScalarOperand& o, const double* slots) {
  return static_cast<T>(o.is_slot ? slots[o.slot] : o.number);
}

template <Formula F, typename T>
double evaluate(const ScalarStep& s, const double* slots) {
  return static_cast<double>(
      ops::cpu::formula::apply<F, T>(operand_as<T>(s.a, slots), operand_as<T>(s.b, slots), s.params));
}

template <typename T>
ScalarEval evaluator_in(Formula f) {
  switch (f) {
#define AG_SCALAR_FORMULA(name, arity, vectorises) \
  case Formula::name:                              \
    return evaluate<Formula::name, T>;
    AG_ELEMENTWISE_FORMULAS(AG_SCALAR_FORMULA)
#undef AG_SCALAR_FORMULA
  }
  return nullptr;
}

// A number operand in the step's dtype, as the kernels read one (ops/cpu/pointwise.cpp,
// one_value), held as a double (exactly).
template <typename T>
double number_as(const Scalar& n) {
  return static_cast<double>(n.is_integral() ? static_cast<T>(n.to_int()) : static_cast<T>(n.to_double()));
}

void ScalarProgram::run(const Args& args, Outputs& outs) const {
  std::vector<const void*> in;
  for (const IValue& a : args) in.push_back(a.to_tensor().raw_data());
  std::vector<void*> out;
  for (const IValue& o : outs) out.push_back(const_cast<Tensor&>(o.to_tensor()).raw_data());
  run_at(in.data(), out.data());
}

void ScalarProgram::run_at(const void* const* args, void* const* outs) const {
  for (size_t k = 0; k < static_cast<size_t>(num_inputs); ++k) __builtin_prefetch(args[k]);
  std::vector<double> slots(static_cast<size_t>(num_inputs) + steps.size());
  for (size_t k = 0; k < static_cast<size_t>(num_inputs); ++k)
    slots[k] = input_f64[k] ? *static_cast<const double*>(args[k]) : *static_cast<const float*>(args[k]);
  for (size_t s = 0; s < steps.size(); ++s)
    slots[static_cast<size_t>(num_inputs) + s] = steps[s].eval(steps[s], slots.data());
  for (size_t j = 0; j < stores.size(); ++j) {
    const double v = slots[static_cast<size_t>(stores[j])];
    if (store_f64[j])
      *static_cast<double*>(outs[j]) = v;
    else
      *static_cast<float*>(outs[j]) = static_cast<float>(v);  // exact: v is a float32 value
  }
}

class SingleElementBatching {
 public:
  SingleElementBatching(std::vector<Value>& values, std::vector<Instruction>& instructions,
                        std::vector<std::vector<int>>& operands, const std::vector<int>& outputs)
      : values_(values), ins_(instructions), operands_(operands) {
    returned_.assign(values_.size(), false);
    for (int v : outputs)
      if (v >= 0) returned_[static_cast<size_t>(v)] = true;
    readers_.assign(values_.size(), {});
    for (size_t i = 0; i < ins_.size(); ++i)
      for (int v : operands_[i]) readers_[static_cast<size_t>(v)].push_back(i);
  }

  FusionStats run() {
    made_at_.assign(values_.size(), -1);
    last_read_at_.assign(values_.size(), -1);
    in_batch_.assign(ins_.size(), false);
    decoded_.resize(ins_.size());
    for (size_t i = 0; i < ins_.size(); ++i) {
      const int at = static_cast<int>(out_ins_.size());
      if (ins_[i].op != nullptr && ins_[i].op->kind == ops::OpKind::InPlace) close();
      if (!member_of_batch(i)) {
        emit(i, at);
        continue;
      }
      if (!can_join(i)) {
        close();
        open_ = at;
      }
      join(i);
    }
    close();
    ins_ = std::move(out_ins_);
    operands_ = std::move(out_ops_);
    return stats_;
  }

 private:
  std::vector<Value>& values_;
  std::vector<Instruction>& ins_;
  std::vector<std::vector<int>>& operands_;
  std::vector<bool> returned_, in_batch_;
  std::vector<std::vector<size_t>> readers_;  // per value: the instructions reading it
  std::vector<Decoded> decoded_;
  std::vector<Instruction> out_ins_;
  std::vector<std::vector<int>> out_ops_;
  std::vector<int> made_at_, last_read_at_;  // per value: position in out_ins_
  int open_ = -1;                            // the open batch's position
  std::vector<size_t> batch_;                // its members (indices into ins_)
  FusionStats stats_;

  bool member_of_batch(size_t i) {
    const Instruction& ins = ins_[i];
    if (!decode(ins, decoded_[i]) || ins.results.size() != 1 || ins.results[0] < 0) return false;
    if (!floating_scalar(values_[static_cast<size_t>(ins.results[0])].layout)) return false;
    for (const auto& p : ins.patches)
      if (p.element >= 0 || !floating_scalar(values_[static_cast<size_t>(p.value)].layout)) return false;
    return true;
  }

  bool can_join(size_t i) const {
    if (open_ < 0 || ins_[i].phase != ins_[batch_.front()].phase) return false;
    for (int v : operands_[i])
      if (made_at_[static_cast<size_t>(v)] > open_) return false;
    const Value& result = values_[static_cast<size_t>(ins_[i].results[0])];
    return result.kind != ValueKind::IntoInput || last_read_at_[static_cast<size_t>(result.base)] <= open_;
  }

  void read(int v, int at) {
    auto& last = last_read_at_[static_cast<size_t>(storage_root(values_, v))];
    last = std::max(last, at);
  }

  void join(size_t i) {
    if (batch_.empty()) {  // hold its place; close() fills it
      out_ins_.emplace_back();
      out_ops_.emplace_back();
    }
    batch_.push_back(i);
    in_batch_[i] = true;
    made_at_[static_cast<size_t>(ins_[i].results[0])] = open_;
    for (int v : operands_[i]) read(v, open_);
  }

  void emit(size_t i, int at) {
    for (int r : ins_[i].results)
      if (r >= 0) made_at_[static_cast<size_t>(r)] = at;
    for (int v : operands_[i]) read(v, at);
    out_ins_.push_back(std::move(ins_[i]));
    out_ops_.push_back(std::move(operands_[i]));
  }

  void close() {
    if (open_ < 0) return;
    const auto at = static_cast<size_t>(open_);
    if (batch_.size() == 1) {
      out_ins_[at] = std::move(ins_[batch_[0]]);
      out_ops_[at] = std::move(operands_[batch_[0]]);
    } else {
      out_ins_[at] = build(out_ops_[at]);
      ++stats_.groups;
      stats_.ops += static_cast<int64_t>(batch_.size());
    }
    open_ = -1;
    batch_.clear();
  }

  // Whether a value the batch makes is read outside it.
  bool stored(int v) const {
    if (returned_[static_cast<size_t>(v)]) return true;
    for (size_t reader : readers_[static_cast<size_t>(v)])
      if (!in_batch_[reader]) return true;
    return false;
  }

  Instruction build(std::vector<int>& inputs) {
    auto program = std::make_shared<ScalarProgram>();
    std::map<int, int> slot_of;              // value -> slot (inputs get theirs as they are first read)
    std::vector<std::pair<int, int>> steps;  // (value, step) of each member, in order
    for (size_t i : batch_) {
      const Decoded& d = decoded_[i];
      const DType dtype = values_[static_cast<size_t>(ins_[i].results[0])].layout.dtype;
      const bool f64 = dtype == DType::Float64;
      ScalarStep st{d.formula, d.params, dtype,
                    {},        {},       f64 ? evaluator_in<double>(d.formula) : evaluator_in<float>(d.formula)};
      size_t next_tensor = 0;
      for (size_t k = 0; k < d.operands.size() && k < 2; ++k) {
        ScalarOperand o;
        if (d.operands[k].is_scalar()) {
          o.is_slot = false;
          const Scalar n = d.operands[k].to_scalar();
          o.number = f64 ? number_as<double>(n) : number_as<float>(n);
        } else {
          const int v = ins_[i].patches.at(next_tensor++).value;
          auto it = slot_of.find(v);
          if (it == slot_of.end()) {
            it = slot_of.emplace(v, static_cast<int>(inputs.size())).first;
            inputs.push_back(v);
          }
          o.slot = it->second;
        }
        (k == 0 ? st.a : st.b) = o;
      }
      if (d.operands.size() == 1) st.b = st.a;
      steps.emplace_back(ins_[i].results[0], static_cast<int>(program->steps.size()));
      slot_of[ins_[i].results[0]] = -1 - static_cast<int>(program->steps.size());  // a step: fixed below
      program->steps.push_back(st);
    }
    program->num_inputs = static_cast<int>(inputs.size());
    // Step slots follow the inputs; re-point the operands that read a step.
    for (ScalarStep& st : program->steps)
      for (ScalarOperand* o : {&st.a, &st.b})
        if (o->is_slot && o->slot < 0) o->slot = program->num_inputs + (-1 - o->slot);
    Instruction batch;
    batch.node = ins_[batch_.front()].node;
    batch.phase = ins_[batch_.front()].phase;
    batch.label = fmt::format("scalars[{} ops]", batch_.size());
    for (int v : inputs) {
      batch.patches.push_back({static_cast<int>(batch.args.size()), -1, v});
      batch.args.emplace_back(values_[static_cast<size_t>(v)].meta());
    }
    for (auto [v, step] : steps) {
      if (!stored(v)) continue;
      program->stores.push_back(program->num_inputs + step);
      batch.result_slots.emplace_back(static_cast<int>(batch.outs.size()), -1);
      batch.outs.emplace_back(values_[static_cast<size_t>(v)].meta());
      batch.results.push_back(v);
    }
    for (const IValue& a : batch.args) program->input_f64.push_back(a.to_tensor().dtype() == DType::Float64);
    for (const IValue& o : batch.outs) program->store_f64.push_back(o.to_tensor().dtype() == DType::Float64);
    batch.kernel = [program](const Args& a, Outputs& o) { program->run(a, o); };
    batch.by_address = [program](const void* const* a, void* const* o) { program->run_at(a, o); };
    return batch;
  }
};
}  // namespace

FusionStats batch_single_element_ops(std::vector<Value>& values, std::vector<Instruction>& instructions,
                                     std::vector<std::vector<int>>& operands, const std::vector<int>& outputs) {
  return SingleElementBatching(values, instructions, operands, outputs).run();
}

}  // namespace aotgrad::compile
