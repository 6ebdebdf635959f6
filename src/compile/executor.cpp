// Running a Program: patch the dynamic operands in, call the kernel, drop what died.
#include <chrono>

#include "compile/program.h"
#include "support/error.h"

namespace aotgrad::compile {

namespace {
thread_local KernelProfile* t_profile = nullptr;

void set_arg(Args& args, const Instruction::Patch& p, Tensor t) {
  IValue& a = args[static_cast<size_t>(p.arg)];
  if (p.element < 0)
    a = IValue(std::move(t));
  else
    a.to_tensor_list()[static_cast<size_t>(p.element)] = std::move(t);
}

// Patching an operand in takes a reference to its tensor: an atomic increment on the
// tensor object's control block, which make_shared puts just before the object. After
// the backward has evicted them, the optimizer's hundred-odd tensor objects miss the
// caches, and each atomic waits for its miss before the next one may start. Asking for
// all of them first lets the misses overlap: patching convnet's AdamW update (two
// instructions, 140 operands) took 3.6-5.1 µs a step, and 2.9-3.5 with this (AMD Zen 4).
void prefetch_tensor_objects(const std::vector<Instruction::Patch>& patches, const std::vector<Tensor>& vals) {
  if (patches.size() < 8) return;  // few enough that the misses do not add up
  for (const auto& p : patches) {
    const TensorImpl* impl = vals[static_cast<size_t>(p.value)].impl();
    if (impl == nullptr) continue;
    __builtin_prefetch(reinterpret_cast<const char*>(impl) - 16, 1);  // the control block
    __builtin_prefetch(impl, 0);
  }
}

Tensor& slot(Outputs& outs, std::pair<int, int> s) {
  IValue& o = outs[static_cast<size_t>(s.first)];
  if (s.second < 0) return const_cast<Tensor&>(o.to_tensor());
  return o.to_tensor_list()[static_cast<size_t>(s.second)];
}
// Where a dynamic result is written: storage of its own, or (Note [Updates in place])
// the storage of the input it is the new value of.
Tensor result_storage(const Value& v, const std::vector<Tensor>& vals) {
  if (v.kind == ValueKind::IntoInput) return vals[static_cast<size_t>(v.base)];
  return Tensor::empty(v.layout.sizes, v.layout.dtype);
}

// Patches this run's tensors into `ins`'s arguments and gives its dynamic results
// their storage.
void bind_operands(Instruction& ins, const std::vector<Value>& values, std::vector<Tensor>& vals) {
  prefetch_tensor_objects(ins.patches, vals);
  for (const auto& p : ins.patches) set_arg(ins.args, p, vals[static_cast<size_t>(p.value)]);
  if (ins.op != nullptr && ins.op->kind == ops::OpKind::InPlace) {
    ins.outs = {ins.args[0]};
    return;
  }
  for (size_t r = 0; r < ins.results.size(); ++r) {
    const int id = ins.results[r];
    if (id < 0 || values[static_cast<size_t>(id)].is_static()) continue;
    Tensor t = result_storage(values[static_cast<size_t>(id)], vals);
    vals[static_cast<size_t>(id)] = t;
    slot(ins.outs, ins.result_slots[r]) = std::move(t);
  }
}
}  // namespace

void KernelProfile::add(const std::string& kernel, const std::string& phase, double ms) {
  for (Entry& e : entries) {
    if (e.kernel == kernel && e.phase == phase) {
      ++e.calls;
      e.ms += ms;
      return;
    }
  }
  entries.push_back({kernel, phase, 1, ms});
}

double KernelProfile::phase_ms(const std::string& phase) const {
  double ms = 0;
  for (const Entry& e : entries) ms += e.phase == phase ? e.ms : 0;
  return ms;
}

ProfileScope::ProfileScope(KernelProfile& sink) : prev_(t_profile) {
  t_profile = &sink;
}
ProfileScope::~ProfileScope() {
  t_profile = prev_;
}

std::vector<Tensor> Program::run(std::vector<Tensor> inputs) const {
  std::lock_guard<std::mutex> lock(running_);
  AG_INTERNAL_CHECK(inputs.size() == inputs_.size(), "program: {} inputs for {} placeholders", inputs.size(),
                    inputs_.size());
  std::vector<Tensor>& vals = scratch_;  // every slot is empty between runs
  vals.resize(values_.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value& v = values_[static_cast<size_t>(inputs_[i])];
    const Tensor& t = inputs[i];
    AG_CHECK(
        t.defined() && t.sizes() == v.layout.sizes && t.dtype() == v.layout.dtype && t.strides() == v.layout.strides,
        "compiled graph: input '{}' must be {} with strides {}, but got {}", v.name, v.layout.str(),
        shape_str(v.layout.strides), t.defined() ? t.describe() : "an undefined tensor");
    vals[static_cast<size_t>(inputs_[i])] = std::move(inputs[i]);
  }
  for (int v : release_at_start_) vals[static_cast<size_t>(v)] = Tensor();
  auto& instructions = const_cast<std::vector<Instruction>&>(instructions_);  // guarded by running_
  for (Instruction& ins : instructions) {
    try {
      if (ins.view_of >= 0) {
        const Tensor& base = vals[static_cast<size_t>(ins.view_of)];
        const Value& planned_base = values_[static_cast<size_t>(ins.view_of)];
        for (int r : ins.results) {
          const Value& v = values_[static_cast<size_t>(r)];
          // Offsets are planned relative to the base's; an input may start elsewhere.
          vals[static_cast<size_t>(r)] =
              Tensor::alias(base, v.layout.sizes, v.layout.strides,
                            base.storage_offset() + v.layout.offset - planned_base.layout.offset);
        }
      } else {
        bind_operands(ins, values_, vals);
        if (t_profile != nullptr) {
          const auto start = std::chrono::steady_clock::now();
          ins.kernel(ins.args, ins.outs);
          t_profile->add(ins.label, ins.phase,
                         std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
        } else {
          ins.kernel(ins.args, ins.outs);
        }
        // Drop this run's tensors from the reusable argument lists.
        for (const auto& p : ins.patches) set_arg(ins.args, p, Tensor());
        for (size_t r = 0; r < ins.results.size(); ++r)
          if (ins.results[r] >= 0 && !values_[static_cast<size_t>(ins.results[r])].is_static() &&
              !(ins.op != nullptr && ins.op->kind == ops::OpKind::InPlace))
            slot(ins.outs, ins.result_slots[r]) = Tensor();
      }
    } catch (Error& e) {
      // Leave nothing of this run behind for the next one.
      for (const auto& p : ins.patches) set_arg(ins.args, p, Tensor());
      for (Tensor& t : vals) t = Tensor();
      e.add_context("while running node '" + ins.node + "' of a compiled graph");
      throw;
    }
    for (int v : ins.release) vals[static_cast<size_t>(v)] = Tensor();
  }
  std::vector<Tensor> result;
  result.reserve(outputs_.size());
  for (int v : outputs_) {
    if (v < 0)
      result.emplace_back();
    else
      result.push_back(values_[static_cast<size_t>(v)].is_static() ? values_[static_cast<size_t>(v)].fixed
                                                                   : vals[static_cast<size_t>(v)]);
  }
  for (Tensor& t : vals) t = Tensor();
  return result;
}

}  // namespace aotgrad::compile
