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

// Gives result r of `ins` its storage (and its address).
Tensor allocate_result(const Instruction& ins, size_t r, const std::vector<Value>& values, std::vector<Tensor>& vals,
                       std::vector<const void*>& addresses) {
  const auto id = static_cast<size_t>(ins.results[r]);
  const Value& v = values[id];
  vals[id] = result_storage(v, vals);
  addresses[id] = v.kind == ValueKind::IntoInput ? addresses[static_cast<size_t>(v.base)] : vals[id].raw_data();
  return vals[id];
}
bool dynamic_result(const Instruction& ins, size_t r, const std::vector<Value>& values) {
  return ins.results[r] >= 0 && !values[static_cast<size_t>(ins.results[r])].is_static();
}

// Patches this run's tensors into `ins`'s arguments and gives its dynamic results
// their storage.
void bind_operands(Instruction& ins, const std::vector<Value>& values, std::vector<Tensor>& vals,
                   std::vector<const void*>& addresses) {
  for (const auto& p : ins.patches) set_arg(ins.args, p, vals[static_cast<size_t>(p.value)]);
  if (ins.op != nullptr && ins.op->kind == ops::OpKind::InPlace) {
    ins.outs = {ins.args[0]};
    return;
  }
  for (size_t r = 0; r < ins.results.size(); ++r)
    if (dynamic_result(ins, r, values))
      slot(ins.outs, ins.result_slots[r]) = allocate_result(ins, r, values, vals, addresses);
}

// Note [Operands by address]: the optimizer's instructions (a multi-tensor loop, a
// batch of single-element ops) run after the backward has passed tens of megabytes
// through the caches, and read a hundred small tensors whose objects sit out of cache,
// each in a page of its own. Handed tensors, such an instruction takes a reference to
// each (an atomic on the tensor object's control block, waiting for its miss) and
// reads each one's storage object and size list: chains of misses that prefetching
// overlapped only in part. Yet a fused loop or a batch needs only its tensors' data
// and sizes, and the sizes are fixed when the program is built. So the run keeps every
// value's address from where it already has it (an input's as it is checked, a
// result's as it is allocated, a static value's since the program was frozen) and
// gives such instructions those: convnet's AdamW update (loop and batch) went from
// 51-55 µs to 42-47 a step, its batch of scalars from 11-12 to 6-8 (AMD Zen 4, one
// core).
void bind_addresses(Instruction& ins, const std::vector<Value>& values, std::vector<Tensor>& vals,
                    std::vector<const void*>& addresses) {
  for (const auto& p : ins.patches)
    ins.arg_addresses[static_cast<size_t>(p.arg)] = addresses[static_cast<size_t>(p.value)];
  for (size_t r = 0; r < ins.results.size(); ++r) {
    if (!dynamic_result(ins, r, values)) continue;
    (void)allocate_result(ins, r, values, vals, addresses);
    ins.out_addresses[static_cast<size_t>(ins.result_slots[r].first)] =
        const_cast<void*>(addresses[static_cast<size_t>(ins.results[r])]);
  }
}

template <typename F>
void time_kernel(const Instruction& ins, F&& call) {
  if (t_profile == nullptr) return call();
  const auto start = std::chrono::steady_clock::now();
  call();
  t_profile->add(t_profile->per_node ? ins.label + " " + ins.node : ins.label, ins.phase,
                 std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
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
  std::vector<const void*>& addresses = addresses_;
  addresses.resize(values_.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Value& v = values_[static_cast<size_t>(inputs_[i])];
    const Tensor& t = inputs[i];
    AG_CHECK(
        t.defined() && t.sizes() == v.layout.sizes && t.dtype() == v.layout.dtype && t.strides() == v.layout.strides,
        "compiled graph: input '{}' must be {} with strides {}, but got {}", v.name, v.layout.str(),
        shape_str(v.layout.strides), t.defined() ? t.describe() : "an undefined tensor");
    addresses[static_cast<size_t>(inputs_[i])] = t.raw_data();
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
          addresses[static_cast<size_t>(r)] = vals[static_cast<size_t>(r)].raw_data();
        }
      } else if (ins.by_address) {
        bind_addresses(ins, values_, vals, addresses);
        time_kernel(ins, [&] { ins.by_address(ins.arg_addresses.data(), ins.out_addresses.data()); });
      } else {
        bind_operands(ins, values_, vals, addresses);
        time_kernel(ins, [&] { ins.kernel(ins.args, ins.outs); });
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
