// Higher-order op nodes (SPEC.md §10): call_function nodes whose arguments include
// subgraphs (get_attr nodes naming modules in GraphModule::subgraphs).
//
// The graph layer knows only their form: a name, the arguments, and the tensor
// operands among them; plus a table of the known ops. Each op is one file in src/hop/
// that registers, under its name, how to resolve a node: check the argument form, pick
// out the tensor operands, give the result metadata and run on real tensors
// (hop::register_higher_order_ops, Note [One home per higher-order op]). The
// interpreter, the verifier, the file loader and the compiled executor all resolve a
// node through HigherOrderCall, so they agree on what it means, and a new op (a
// collective, a pipeline send/recv, a loop) is one file and one registration.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aotgrad/graph.h"

namespace aotgrad::graph {

/// What a registered op makes of one node (after its form was checked).
class HigherOrderImpl {
 public:
  virtual ~HigherOrderImpl() = default;
  /// The results' metadata from the operands' (None where the op returns None).
  virtual std::vector<std::optional<TensorVal>> result_meta(const std::vector<TensorVal>& operands) const = 0;
  /// Runs on real tensors: one tensor per result, undefined where it returns None.
  virtual std::vector<Tensor> run(const std::vector<Tensor>& operands) const = 0;
  /// The module the node calls, for ops that call one module on their operands
  /// (invoke_subgraph): the compiled executor runs it as a Program of its own.
  virtual std::shared_ptr<GraphModule> invoked() const { return nullptr; }
};

/// The node being resolved, with the checks every op's resolver needs.
class HigherOrderArgs {
 public:
  HigherOrderArgs(const GraphModule& owner, const Node& n) : owner_(owner), node_(n) {}
  const Node& node() const { return node_; }
  const Arg::List& args() const { return node_.args(); }
  /// "flex_attention 'flex_attention_1'": for messages.
  std::string where() const;
  /// Records a tensor operand; returns its position among the operands, or -1 for None.
  /// A user error if `a` is neither a node nor None.
  int operand(const Arg& a, const char* what);
  /// The module a get_attr argument names; a user error if it is not one.
  std::shared_ptr<GraphModule> subgraph(const Arg& a, const char* what) const;
  /// A number argument (int or float).
  double number(const Arg& a, const char* what) const;
  const std::vector<const Node*>& operands() const { return operands_; }

 private:
  const GraphModule& owner_;
  const Node& node_;
  std::vector<const Node*> operands_;
};

/// Checks a node's form and resolves it (a user error naming the node and the
/// argument if the form is wrong).
using HigherOrderResolver = std::function<std::shared_ptr<const HigherOrderImpl>(HigherOrderArgs& args)>;
/// Adds an op to the table (again under the same name: replaces it).
void register_higher_order_op(const std::string& name, HigherOrderResolver resolve);
/// The registered ops' names, sorted.
std::vector<std::string> higher_order_op_names();

/// A higher-order node resolved once against its module.
class HigherOrderCall {
 public:
  /// A user error if `n` names no registered op or its arguments do not have the op's form.
  HigherOrderCall(const GraphModule& owner, const Node& n);

  const std::string& op() const { return op_; }
  /// The tensor-valued argument nodes, in order; run() takes their values in this order.
  const std::vector<const Node*>& operands() const { return operands_; }
  std::shared_ptr<GraphModule> invoked() const { return impl_->invoked(); }
  /// Runs the op on real tensors: one tensor per result, undefined where it returns None.
  std::vector<Tensor> run(const std::vector<Tensor>& operands) const;
  std::vector<std::optional<TensorVal>> result_meta(const std::vector<TensorVal>& operands) const;

 private:
  std::string op_, node_;
  std::vector<const Node*> operands_;
  std::shared_ptr<const HigherOrderImpl> impl_;
};

}  // namespace aotgrad::graph
