// Where an export's forward comes from: a live module or a captured forward graph
// (internal to the export layer; joint.cpp and train_step.cpp share it).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "aotgrad/export.h"
#include "trace/tracer.h"

namespace aotgrad::exporting::detail {

/// Where the forward comes from: a live module or a captured graph. `run` executes
/// it on the proxies (with the tracer active) and returns the output leaves, their
/// spec, and the new values of written inputs (the captured case; a live module's
/// writes reach the proxies directly).
struct ForwardSource {
  std::string name;
  struct Named {
    std::string fqn;
    Tensor example;
    bool requires_grad;
  };
  std::vector<Named> params, buffers;
  std::function<std::pair<std::vector<IValue>, pytree::TreeSpec>(const TensorList& params, const TensorList& buffers,
                                                                 const pytree::Value& call, trace::Tracer& tracer)>
      run;
};

/// A live module, called functionally on the parameter and buffer proxies.
ForwardSource module_source(nn::Module& module);
/// A captured forward graph, replayed node by node on the proxies (annotations and
/// stack traces in force), its higher-order nodes called again as higher-order ops.
ForwardSource captured_source(const graph::GraphModule& captured);

}  // namespace aotgrad::exporting::detail
