// Autograd nodes and edges.
//
// A Node is the backward of one forward call. Its inputs are the gradients of
// that call's outputs; its next_edges point at the nodes that produced the
// call's inputs (or at AccumulateGrad for leaves). Each node keeps the seq_nr it
// was created with; the engine runs ready nodes highest seq_nr first.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "aotgrad/annotate.h"
#include "aotgrad/ivalue.h"
#include "aotgrad/tensor.h"
#include "ops/dispatch.h"

namespace aotgrad::autograd {

class Node;

/// What the forward code had in force when an autograd node was made; its backward
/// runs with it (Note [Backward inherits the forward's context] in engine.cpp).
struct CreationContext {
  Annotations custom;
  std::vector<void*> frames;      // raw return addresses, when capture is on
  int frames_inside_anchor = -1;  // how many of them lie inside an annotate_fn call (-1: none)
  StackTrace stack_trace;         // a given trace (replaying a captured graph)
};

/// Whether nodes made on this thread capture their call stack (the tracer turns it on).
void set_capture_stacks(bool on);
bool capture_stacks();
/// The context to attach to a node made now.
std::shared_ptr<const CreationContext> capture_creation_context();
/// The node whose backward is running on this thread (null outside the engine).
const Node* current_backward_node();
/// True while the engine runs on this thread.
bool in_backward();

struct Edge {
  std::shared_ptr<Node> fn;
  uint32_t input_nr = 0;
  bool valid() const { return fn != nullptr; }
};

/// Shape and dtype of a tensor a gradient must match.
struct TensorMeta {
  Shape sizes;
  /// Under a symbolic trace: the sizes' expressions (Tensor::sym_sizes), else null.
  std::shared_ptr<const std::vector<SymExpr>> sym_sizes;
  SymShape sym_shape() const {
    SymShape s;
    for (size_t d = 0; d < sizes.size(); ++d)
      s.push_back(sym_sizes ? SymInt((*sym_sizes)[d], sizes[d]) : SymInt(sizes[d]));
    return s;
  }
  DType dtype = DType::Float32;
  bool defined = false;
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  explicit Node(uint64_t seq_nr) : seq_nr_(seq_nr) {}
  virtual ~Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  virtual std::string name() const = 0;
  /// One gradient per input (forward output), zero-filled where undefined.
  /// Returns one gradient per next edge.
  virtual TensorList apply(TensorList&& grads) = 0;

  uint64_t seq_nr() const { return seq_nr_; }
  std::vector<Edge>& next_edges() { return next_edges_; }
  const std::vector<Edge>& next_edges() const { return next_edges_; }
  /// Metadata of the forward outputs, for zero-filling missing gradients.
  /// Whether the engine replaces undefined output gradients with zeros before apply().
  virtual bool materialize_grads() const { return true; }
  std::vector<TensorMeta>& input_metas() { return input_metas_; }
  /// Metadata of the forward inputs, one per edge: gradients are reduced
  /// (sum_to) and cast to match.
  std::vector<TensorMeta>& edge_metas() { return edge_metas_; }

  /// The forward's annotations and call stack at creation (null when there were none).
  std::shared_ptr<const CreationContext> creation_context;

 private:
  uint64_t seq_nr_;
  std::vector<Edge> next_edges_;
  std::vector<TensorMeta> input_metas_;
  std::vector<TensorMeta> edge_metas_;
};

/// The backward of one op call: runs the op's derivative formula.
class OpNode final : public Node {
 public:
  OpNode(uint64_t seq_nr, const ops::OpInfo& op, Args saved_args, TensorList saved_outputs)
      : Node(seq_nr), op_(op), args_(std::move(saved_args)), outs_(std::move(saved_outputs)) {}
  std::string name() const override;
  TensorList apply(TensorList&& grads) override;
  const ops::OpInfo& op() const { return op_; }

 private:
  const ops::OpInfo& op_;
  Args args_;
  TensorList outs_;
};

/// The base's new history after an in-place op wrote into one of its views
/// (Note [In-place writes into views] in record.cpp). Its gradient is the base's:
/// the view's region of it goes through the in-place op's backward (`fn`), the rest
/// passes through unchanged.
class CopySlices final : public Node {
 public:
  CopySlices(std::shared_ptr<OpNode> fn, TensorMeta base, Shape view_sizes, Shape view_strides, int64_t view_offset);
  std::string name() const override { return "CopySlices"; }
  TensorList apply(TensorList&& grads) override;

 private:
  std::shared_ptr<OpNode> fn_;
  Shape view_sizes_, view_strides_;
  int64_t view_offset_;  // relative to the base's first element
};

/// Adds the incoming gradient into a leaf's .grad.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf);
  std::string name() const override { return "AccumulateGrad"; }
  TensorList apply(TensorList&& grads) override;
  const std::shared_ptr<TensorImpl>& leaf() const { return leaf_; }

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

/// The edge a gradient for `t` flows along (its grad_fn, or its accumulator).
Edge gradient_edge(const Tensor& t);
/// Next sequence number (thread-local counter, as in PyTorch).
uint64_t next_sequence_nr();
TensorMeta meta_of(const Tensor& t);

}  // namespace aotgrad::autograd
