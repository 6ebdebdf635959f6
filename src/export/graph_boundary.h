// The two ends of a graph being traced, shared by the joint export, the forward
// capture and the training-step export (internal to the export layer): placeholders
// each with their descriptor, and an output list each with its descriptor.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "aotgrad/export.h"
#include "trace/tracer.h"

namespace aotgrad::exporting::detail {

/// The graph's placeholders in order: each one's proxy, descriptor and, for a real
/// example tensor, its storage (inputs that alias each other cannot be written in a
/// functional graph).
class GraphInputs {
 public:
  GraphInputs(graph::GraphModule& gm, trace::Tracer& tracer) : gm_(gm), tracer_(tracer) {}

  /// A placeholder shaped like `like`, standing for `desc`.
  Tensor add(const std::string& name, const Tensor& like, bool requires_grad, Descriptor desc,
             const std::vector<int64_t>& dynamic_dims = {});

  /// The flattened (args, kwargs), kwargs after args: one PlainAOTInput placeholder per
  /// leaf, named `name_of(i)`, requires_grad as the leaf is if `differentiable`. Returns the call on the
  /// proxies; `spec` receives the structure. `who` names the export in errors.
  pytree::Value add_call(const nn::Args& args, const nn::Kwargs& kwargs,
                         const std::function<std::string(size_t)>& name_of, bool differentiable, const char* who,
                         pytree::TreeSpec& spec, const std::vector<DynamicDim>& dynamic = {});

  size_t size() const { return proxies_.size(); }
  const Tensor& proxy(size_t i) const { return proxies_[i]; }
  const Descriptor& desc(size_t i) const { return descs_[i]; }
  /// Indices of the placeholders the traced code wrote in place, in order.
  std::vector<size_t> mutated() const;
  /// Fails if a written placeholder shares storage with another one.
  void check_written_inputs_do_not_alias(const std::vector<size_t>& written) const;

 private:
  graph::GraphModule& gm_;
  trace::Tracer& tracer_;
  std::vector<Tensor> proxies_;
  std::vector<Descriptor> descs_;
  std::vector<const Storage*> storage_;  // nullptr for a meta example
};

/// The graph's output list, each value with its descriptor (or none: an undefined
/// gradient).
class GraphOutputs {
 public:
  explicit GraphOutputs(trace::Tracer& tracer) : tracer_(tracer) {}
  void add(const Tensor& value, Descriptor desc);
  void add_none();
  /// The new value of each written input, as InputMutationAOTOutput.
  void add_mutations(const GraphInputs& inputs, const std::vector<size_t>& written);
  size_t size() const { return values_.size(); }
  /// Creates the output node.
  graph::Node* finish(graph::GraphModule& gm);

 private:
  trace::Tracer& tracer_;
  graph::Arg::List values_;
  std::vector<std::optional<Descriptor>> descs_;
};

/// After a symbolic trace: a symbol the model fixed at a constant (a Linear's
/// in-features read from a dynamic dim) is a user error naming the input and dim,
/// the op that fixed it and where the model called it.
void check_nothing_specialized(const ops::ShapeEnv& env, const graph::GraphModule& gm);

/// A list of `n` leaves: a graph's flat calling convention.
pytree::TreeSpec flat_list_spec(size_t n);

}  // namespace aotgrad::exporting::detail
