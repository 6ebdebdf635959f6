// Custom ops: definitions turned into OpInfos of the runtime part of the op table.
#include "aotgrad/custom_op.h"

#include "ops/cpu/loops.h"
#include "ops/dispatch.h"
#include "ops/registry.h"
#include "support/error.h"

namespace aotgrad {

void register_custom_op(const CustomOpDef& def) {
  const size_t colons = def.name.find("::");
  AG_CHECK(colons != std::string::npos && colons > 0 && colons + 2 < def.name.size(),
           "register_custom_op: the name must look like 'my_lib::foo', got '{}'", def.name);
  AG_CHECK(def.cpu != nullptr, "register_custom_op({}): a CPU implementation is required", def.name);
  AG_CHECK(def.fake != nullptr, "register_custom_op({}): a fake (shape) implementation is required", def.name);
  const std::string ns = def.name.substr(0, colons), op_name = def.name.substr(colons + 2);
  AG_CHECK(ns != "aten" && ns != "prims", "register_custom_op: the namespace '{}' is reserved", ns);
  ops::OpInfo info;
  try {
    info.schema = ops::parse_schema(def.name + def.signature);
  } catch (const Error& e) {
    AG_FAIL("register_custom_op({}): cannot parse the signature '{}': {}", def.name, def.signature, e.message());
  }
  info.kind = ops::OpKind::Compute;
  const std::string name = def.name;
  auto fake = def.fake;
  info.shape = [fake, name](const Args& args) {
    Outputs outs;
    for (const Tensor& t : fake(args)) {
      AG_CHECK(t.defined(), "{}: the fake implementation returned an undefined tensor", name);
      outs.emplace_back(Tensor::meta(t.sizes(), t.dtype()));
    }
    return outs;
  };
  auto cpu = def.cpu;
  info.kernel = [cpu, name](const Args& args, Outputs& outs) {
    TensorList results = cpu(args);
    AG_CHECK(results.size() == outs.size(), "{}: the CPU implementation returned {} results, the fake one {}", name,
             results.size(), outs.size());
    for (size_t i = 0; i < results.size(); ++i) {
      const Tensor& out = outs[i].to_tensor();
      AG_CHECK(results[i].sizes() == out.sizes() && results[i].dtype() == out.dtype(),
               "{}: result {} is {}, but the fake implementation said {}", name, i, results[i].describe(),
               out.describe());
      ops::cpu::copy_into(out, results[i]);
    }
  };
  if (def.backward) {
    auto backward = def.backward;
    info.derivative = [backward](const ops::BackwardContext& c) { return backward(c.args, c.outs, c.grads); };
  }
  ops::register_op(std::move(info));
}

TensorList call_custom_op(const std::string& name, Args args) {
  const ops::OpInfo* op = ops::find_op(name);
  AG_CHECK(op != nullptr, "call_custom_op: no op named '{}' is registered", name);
  return ops::flatten_outputs(ops::call(op->id, std::move(args)));
}

}  // namespace aotgrad
