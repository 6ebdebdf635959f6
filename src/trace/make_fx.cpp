#include "aotgrad/trace.h"
#include "ops/registry.h"
#include "support/error.h"
#include "trace/tracer.h"

namespace aotgrad::trace {

DecompositionTable DecompositionTable::core() {
  DecompositionTable t;
  for (const ops::OpInfo& op : ops::all_ops())
    if (op.decomposition != nullptr && op.kind != ops::OpKind::Composite) t.add(op.id);
  return t;
}

void DecompositionTable::add(ops::OpId op) {
  ops_.insert(static_cast<uint16_t>(op));
}
bool DecompositionTable::contains(ops::OpId op) const {
  return ops_.count(static_cast<uint16_t>(op)) > 0;
}

std::shared_ptr<graph::GraphModule> make_fx(const std::function<TensorList(const TensorList&)>& fn,
                                            const TensorList& inputs, const TraceOptions& options) {
  auto gm = std::make_shared<graph::GraphModule>();
  gm->name = "fn";
  Tracer tracer(*gm, options);
  TensorList proxies;
  for (size_t i = 0; i < inputs.size(); ++i) {
    AG_CHECK(inputs[i].defined(), "make_fx: input {} is an undefined tensor", i);
    proxies.push_back(tracer.placeholder("arg" + std::to_string(i) + "_1", inputs[i], inputs[i].requires_grad()));
  }
  TensorList outs;
  {
    ops::ModeGuard mode(&tracer);
    outs = fn(proxies);
  }
  graph::Arg::List values;
  for (const Tensor& t : outs) values.push_back(t.defined() ? graph::Arg(tracer.node_of(t)) : graph::Arg());
  gm->graph->output(std::move(values));
  tracer.finish();
  return gm;
}

}  // namespace aotgrad::trace
