// Module: registration, the name tree, state dicts and the generic call helpers.
#include "aotgrad/autograd.h"
#include "aotgrad/nn.h"
#include "aotgrad/ops.h"
#include "support/error.h"

namespace aotgrad::nn {

void Module::register_parameter(std::string name, Tensor& slot) {
  if (!slot.defined()) return;
  slot.set_requires_grad(true);
  params_.emplace_back(std::move(name), &slot);
}

void Module::register_buffer(std::string name, Tensor& slot) {
  AG_INTERNAL_CHECK(slot.defined(), "{}: buffer '{}' registered undefined", type_name_, name);
  buffers_.emplace_back(std::move(name), &slot);
}

void Module::collect(const std::string& prefix, bool params, NamedSlots& out) const {
  for (const auto& [name, slot] : params ? params_ : buffers_) out.emplace_back(prefix + name, slot);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", params, out);
}

NamedSlots Module::parameter_slots() {
  NamedSlots out;
  collect("", true, out);
  return out;
}

SlotSwap::~SlotSwap() {
  for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) *it->first = it->second;
}

void SlotSwap::swap(Tensor* slot, Tensor value) {
  saved_.emplace_back(slot, *slot);
  *slot = std::move(value);
}

NamedSlots Module::buffer_slots() {
  NamedSlots out;
  collect("", false, out);
  return out;
}

static NamedTensors values_of(const NamedSlots& slots) {
  NamedTensors out;
  out.reserve(slots.size());
  for (const auto& [name, slot] : slots) out.emplace_back(name, *slot);
  return out;
}

NamedTensors Module::named_parameters() const {
  NamedSlots s;
  collect("", true, s);
  return values_of(s);
}

NamedTensors Module::named_buffers() const {
  NamedSlots s;
  collect("", false, s);
  return values_of(s);
}

std::vector<std::pair<std::string, Module*>> Module::named_children() const {
  std::vector<std::pair<std::string, Module*>> out;
  for (const auto& [name, child] : children_) out.emplace_back(name, child.get());
  return out;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

NamedTensors Module::state_dict() const {
  // PyTorch's order: each module's own parameters, then its buffers, then children.
  NamedTensors out;
  std::function<void(const Module&, const std::string&)> walk = [&](const Module& m, const std::string& prefix) {
    for (const auto& [name, slot] : m.params_) out.emplace_back(prefix + name, *slot);
    for (const auto& [name, slot] : m.buffers_) out.emplace_back(prefix + name, *slot);
    for (const auto& [name, child] : m.children_) walk(*child, prefix + name + ".");
  };
  walk(*this, "");
  return out;
}

void Module::load_state_dict(const NamedTensors& state, bool strict) {
  NamedSlots slots;
  collect("", true, slots);
  collect("", false, slots);
  std::vector<bool> seen(slots.size(), false);
  for (const auto& [name, value] : state) {
    size_t i = 0;
    while (i < slots.size() && slots[i].first != name) ++i;
    AG_CHECK(i < slots.size(),
             "{}.load_state_dict: unexpected key '{}' (the module has no such "
             "parameter or buffer)",
             type_name_, name);
    Tensor& dst = *slots[i].second;
    AG_CHECK(dst.sizes() == value.sizes() && dst.dtype() == value.dtype(),
             "{}.load_state_dict: '{}' expects {}, got {}", type_name_, name, dst.describe(), value.describe());
    autograd::NoGradGuard no_grad;
    copy_(dst, value);
    seen[i] = true;
  }
  if (!strict) return;
  for (size_t i = 0; i < slots.size(); ++i)
    AG_CHECK(seen[i], "{}.load_state_dict: missing key '{}'", type_name_, slots[i].first);
}

void Module::zero_grad() {
  for (auto& [name, slot] : parameter_slots()) slot->set_grad(Tensor());
}

const Tensor& tensor_arg(const std::string& module, const Args& args, size_t index, const char* name) {
  AG_CHECK(index < args.size(), "{}.forward: missing positional argument {} ('{}')", module, index, name);
  const pytree::Value& v = args[index];
  AG_CHECK(v.is_leaf() && v.leaf().is_tensor(), "{}.forward: argument {} ('{}') must be a tensor", module, index, name);
  return v.leaf().to_tensor();
}

void expect_args(const std::string& module, const Args& args, const Kwargs& kwargs, size_t count, const char* names) {
  AG_CHECK(args.size() == count, "{}.forward: expected {} positional argument(s) ({}), got {}", module, count, names,
           args.size());
  AG_CHECK(kwargs.empty(), "{}.forward: unexpected keyword argument '{}'", module, kwargs.front().first);
}

pytree::Value UnaryModule::forward(const Args& args, const Kwargs& kwargs) {
  expect_args(type_name(), args, kwargs, 1, "input");
  return pytree::Value(apply(tensor_arg(type_name(), args, 0, "input")));
}

}  // namespace aotgrad::nn
