#include "ops/dispatch.h"

#include "support/error.h"

namespace aotgrad::ops {

namespace {
thread_local DispatchMode* t_mode = nullptr;
thread_local bool t_grad_enabled = true;
AutogradHandler g_autograd = nullptr;

std::string arg_what(const Argument& a) {
  return fmt::format("argument '{}' ({})", a.name, a.type_text);
}

// Checks (and where PyTorch would, converts) one argument against its declared type.
void check_arg(const OpInfo& op, const Argument& a, IValue& v) {
  auto fail = [&](const char* expected) {
    AG_FAIL("{}: expected {} to be {}, but got {}", op.name(), arg_what(a), expected, v.type_name());
  };
  switch (a.type) {
    case ArgType::Tensor:
      // A number where a Tensor is expected is a "wrapped number", as when Python
      // evaluates x + 1 (aten.add.Tensor(x, 1)); kernels read it with operand().
      if (v.is_scalar() && accepts_wrapped_number(op.schema, a)) break;
      if (!v.is_tensor() || !v.to_tensor().defined()) fail("a Tensor");
      break;
    case ArgType::OptTensor:
      if (v.is_tensor() && !v.to_tensor().defined()) v = None{};
      if (!v.is_none() && !v.is_tensor()) fail("a Tensor or None");
      break;
    case ArgType::TensorList:
    case ArgType::OptTensorList:
      if (!v.is_tensor_list()) fail("a list of Tensors");
      if (a.type == ArgType::TensorList)
        for (auto& t : v.to_tensor_list())
          AG_CHECK(t.defined(), "{}: {} contains an undefined tensor", op.name(), arg_what(a));
      break;
    case ArgType::Int:
      if (!v.is_int()) fail("an int");
      break;
    case ArgType::OptInt:
      if (!v.is_none() && !v.is_int()) fail("an int or None");
      break;
    case ArgType::IntList:
    case ArgType::OptIntList:
      if (v.is_int()) v = IntList(std::max(a.fixed_length, 1), v.to_int());
      if (a.type == ArgType::OptIntList && v.is_none()) break;
      if (!v.is_int_list()) fail("a list of ints");
      if (a.fixed_length > 1 && v.to_int_list().size() == 1) v = IntList(a.fixed_length, v.to_int_list()[0]);
      break;
    case ArgType::Float:
    case ArgType::OptFloat:
      if (v.is_int()) v = static_cast<double>(v.to_int());
      if (a.type == ArgType::OptFloat && v.is_none()) break;
      if (!v.is_double()) fail("a float");
      break;
    case ArgType::Bool:
    case ArgType::OptBool:
      if (a.type == ArgType::OptBool && v.is_none()) break;
      if (!v.is_bool()) fail("a bool");
      break;
    case ArgType::BoolList:
      if (!v.is_bool_list()) fail("a list of bools");
      break;
    case ArgType::Scalar:
      if (!v.is_scalar()) fail("a number");
      break;
    case ArgType::OptScalar:
      if (!v.is_none() && !v.is_scalar()) fail("a number or None");
      break;
    case ArgType::ScalarType:
      if (!v.is_dtype()) fail("a dtype");
      break;
    case ArgType::OptScalarType:
      if (!v.is_none() && !v.is_dtype()) fail("a dtype or None");
      break;
    case ArgType::Str:
      if (!v.is_string()) fail("a str");
      break;
    case ArgType::Ignored:
      break;
  }
}
}  // namespace

void normalize_args(const OpInfo& op, Args& args) {
  const auto& params = op.schema.args;
  AG_CHECK(args.size() <= params.size(), "{}: expected at most {} arguments, but got {} ({})", op.name(), params.size(),
           args.size(), op.schema.text);
  for (size_t i = args.size(); i < params.size(); ++i) {
    AG_CHECK(params[i].default_value.has_value(), "{}: missing argument '{}' ({})", op.name(), params[i].name,
             op.schema.text);
    args.push_back(*params[i].default_value);
  }
  for (size_t i = 0; i < params.size(); ++i) check_arg(op, params[i], args[i]);
}

std::vector<Tensor> tensor_slots(const OpInfo& op, const Args& args) {
  std::vector<Tensor> slots;
  for (size_t i = 0; i < op.schema.args.size() && i < args.size(); ++i) {
    switch (op.schema.args[i].type) {
      case ArgType::Tensor:
      case ArgType::OptTensor:
        slots.push_back(args[i].is_tensor() ? args[i].to_tensor() : Tensor());
        break;
      case ArgType::TensorList:
      case ArgType::OptTensorList:
        for (const auto& t : args[i].to_tensor_list()) slots.push_back(t);
        break;
      default:
        break;
    }
  }
  return slots;
}

std::vector<Tensor> flatten_outputs(const Outputs& outs) {
  std::vector<Tensor> flat;
  for (const auto& o : outs) {
    if (o.is_tensor())
      flat.push_back(o.to_tensor());
    else if (o.is_tensor_list())
      for (const auto& t : o.to_tensor_list()) flat.push_back(t);
    else if (o.is_none())
      flat.emplace_back();
  }
  return flat;
}

Outputs run_shape(const OpInfo& op, const Args& args) {
  AG_INTERNAL_CHECK(op.shape != nullptr, "op {} has no shape rule", op.qualified_name());
  try {
    return op.shape(args);
  } catch (Error& e) {
    if (e.context().empty()) e.add_context("in the shape rule of " + op.qualified_name());
    throw;
  }
}

// Note [Dispatch order]: composite → autograd → mode → kernel, as in PyTorch
// (CompositeImplicitAutograd, Autograd, Python mode, CPU). The derivative
// formulas and decompositions call the public API, so whatever is installed
// below sees their ops too.
Outputs run_kernel(const OpInfo& op, const Args& args) {
  Outputs outs = run_shape(op, args);
  switch (op.kind) {
    case OpKind::View: {
      const Tensor& self = args[0].to_tensor();
      auto make = [&](const Tensor& m) { return Tensor::alias(self, m.sizes(), m.strides(), m.storage_offset()); };
      for (auto& o : outs) {
        if (o.is_tensor())
          o = make(o.to_tensor());
        else
          for (auto& t : o.to_tensor_list()) t = make(t);
      }
      return outs;
    }
    case OpKind::InPlace:
      outs = {args[0]};
      break;
    case OpKind::Compute:
      for (auto& o : outs) {
        if (o.is_tensor() && o.to_tensor().defined())
          o = Tensor::empty(o.to_tensor().sizes(), o.to_tensor().dtype());
        else if (o.is_tensor_list())
          for (auto& t : o.to_tensor_list()) t = Tensor::empty(t.sizes(), t.dtype());
      }
      break;
    case OpKind::Composite:
      AG_INTERNAL_CHECK(false, "run_kernel on composite op {}", op.qualified_name());
  }
  AG_INTERNAL_CHECK(op.kernel != nullptr, "op {} has no CPU kernel", op.qualified_name());
  op.kernel(args, outs);
  if (op.kind == OpKind::InPlace) ++args[0].to_tensor().impl()->storage->version;
  return outs;
}

Outputs call_below_autograd(const OpInfo& op, const Args& args) {
  if (DispatchMode* mode = t_mode) {
    ModeGuard suspend(nullptr);
    return mode->dispatch(op, args);
  }
  return run_kernel(op, args);
}

Outputs call(OpId id, Args args) {
  const OpInfo& op = op_info(id);
  normalize_args(op, args);
  if (op.kind == OpKind::Composite) {
    AG_INTERNAL_CHECK(op.decomposition != nullptr, "composite op {} has no decomposition", op.qualified_name());
    return op.decomposition(args);
  }
  if (t_grad_enabled && g_autograd != nullptr) {
    for (const Tensor& t : tensor_slots(op, args)) {
      if (t.defined() && t.requires_grad()) return g_autograd(op, args);
    }
  }
  return call_below_autograd(op, args);
}

Tensor call1(OpId id, Args args) {
  Outputs outs = call(id, std::move(args));
  return outs[0].to_tensor();
}

DispatchMode* current_mode() {
  return t_mode;
}
ModeGuard::ModeGuard(DispatchMode* mode) : prev_(t_mode) {
  t_mode = mode;
}
ModeGuard::~ModeGuard() {
  t_mode = prev_;
}

bool grad_mode_enabled() {
  return t_grad_enabled;
}
void set_grad_mode(bool enabled) {
  t_grad_enabled = enabled;
}
void set_autograd_handler(AutogradHandler handler) {
  g_autograd = handler;
}

int64_t guard_int(const SymInt& v, const std::string& reason) {
  if (v.is_symbolic())
    if (DispatchMode* mode = current_mode()) mode->specialize(v.expr, reason);
  return v.hint;
}

}  // namespace aotgrad::ops
