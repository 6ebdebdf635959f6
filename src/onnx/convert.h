// What an ONNX op's converter sees, and the op table's row (op_table.cpp).
//
// A converter turns one ONNX node into calls of aotgrad's tensor API (include/
// aotgrad/ops.h): on real tensors when the model runs eagerly, on proxies when it
// is traced. Inputs that must be known when the model is loaded (shapes, axes,
// pads, a Pow exponent that makes a pow.Tensor_Scalar) are read with ints() /
// scalar(), which fail with the node's name when the input depends on the model's
// inputs or parameters (Note [Static values] in onnx_module.cpp).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aotgrad/ops.h"
#include "onnx/model.h"
#include "support/error.h"

namespace aotgrad::onnx_io {

/// A value flowing between nodes: its tensor, and whether it is static (computed
/// from constants and shapes alone).
struct Value {
  Value() = default;
  Value(Tensor t, bool is_static, bool is_buffer = false)
      : tensor(std::move(t)), is_static(is_static), is_buffer(is_buffer) {}

  Tensor tensor;
  bool is_static = false;
  bool is_buffer = false;  // one of the module's buffers (a BatchNormalization running statistic)
  /// A static value computed from symbolic sizes during a symbolic trace (Note
  /// [Symbolic static values] in static_symbols.cpp). `tensor` then holds the
  /// value at the traced sizes, and `sym` each element's expression (a 0-d or 1-d
  /// integer tensor), or is null where the importer could not follow the
  /// arithmetic: such a value cannot be used at all (`symbolic_origin` names the node
  /// that lost track).
  bool symbolic = false;
  std::shared_ptr<const SymShape> sym;
  std::string symbolic_origin;
};

class NodeContext {
 public:
  NodeContext(const Node& node, int64_t opset, std::vector<const Value*> inputs, bool float64, bool module_training)
      : node(node), opset(opset), module_training(module_training), inputs_(std::move(inputs)), float64_(float64) {
    for (const Value* v : inputs_) all_static_ &= v == nullptr || v->is_static;
  }

  const Node& node;
  const int64_t opset;
  /// The module's train/eval mode. In eval mode, ops the file runs in training mode
  /// (BatchNormalization training_mode=1, Dropout training_mode=true) run as for
  /// inference, as ONNX Runtime's eval model of a training graph does.
  const bool module_training;

  /// Whether optional input `i` is given.
  bool has(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  /// Input `i`, which must be given. In a traced node, a value computed from
  /// symbolic sizes is an error: its tensor holds one size's numbers.
  const Tensor& in(size_t i) const;
  bool is_static(size_t i) const { return has(i) && inputs_[i]->is_static; }
  bool is_buffer(size_t i) const { return has(i) && inputs_[i]->is_buffer; }
  size_t num_inputs() const { return inputs_.size(); }
  /// A static input's integer values (shapes, axes, pads, indices).
  std::vector<int64_t> ints(size_t i, const char* what) const;
  /// The same as sizes that may be symbolic (Reshape's shape, Expand's, ConstantOfShape's).
  SymShape sym_ints(size_t i, const char* what) const;
  /// Gives output `k` symbolic elements (Shape and Size of a symbolic tensor).
  void set_sym_output(size_t k, SymShape values);
  const std::vector<std::shared_ptr<const SymShape>>& sym_outputs() const { return sym_outputs_; }
  /// A static one-element input's value.
  double scalar(size_t i, const char* what) const;
  /// Whether output `k` is read by anyone (a graph output or a later node).
  bool wants_output(size_t k) const { return k < node.outputs.size() && !node.outputs[k].empty(); }

  bool has_attr(const char* name) const { return node.attributes.count(name) != 0; }
  int64_t attr_int(const char* name, int64_t fallback) const;
  double attr_float(const char* name, double fallback) const;
  std::string attr_string(const char* name, const std::string& fallback) const;
  std::optional<std::vector<int64_t>> attr_ints(const char* name) const;
  const Tensor* attr_tensor(const char* name) const;
  /// Integers from the attribute `name` (opsets before `input_since`) or the static
  /// input `i` (from `input_since` on); nullopt when neither is given.
  std::optional<std::vector<int64_t>> attr_or_input_ints(const char* name, size_t i, int64_t input_since) const;

  /// The dtype ONNX FLOAT means here (float64 when the import computes in float64).
  DType float_type() const { return float64_ ? DType::Float64 : DType::Float32; }
  /// The aotgrad dtype of an ONNX element type; a user error naming the node otherwise.
  DType dtype_from_elem_type(int64_t elem_type, const char* what) const;

  /// A user error: the node uses something the importer does not support.
  template <typename... A>
  [[noreturn]] void unsupported(fmt::format_string<A...> f, A&&... args) const {
    AG_FAIL("unsupported: {}", fmt::format(f, std::forward<A>(args)...));
  }

 private:
  // An error unless input `i` is usable as `what` here (see Value::symbolic).
  void check_not_symbolic(size_t i, const char* what) const;
  // Input `i` checked to be a static integer scalar or 1-D tensor.
  const Tensor& static_int_tensor(size_t i, const char* what) const;

  std::vector<const Value*> inputs_;
  bool float64_;
  bool all_static_ = true;
  std::vector<std::shared_ptr<const SymShape>> sym_outputs_;
};

/// An axis in [-rank, rank) made non-negative; a user error naming `what` otherwise.
int64_t normalize_axis(int64_t axis, int64_t rank, const char* what);

using Converter = TensorList (*)(NodeContext&);

/// One row of the op table: an ONNX op type from opset `since` on, its converter and
/// every attribute the ONNX spec defines for it (others are rejected at import).
struct OpRow {
  const char* op_type;
  int64_t since;
  Converter convert;
  std::vector<std::string> attributes;
  /// The op reads only its inputs' shapes (Shape, Size): its result is static even
  /// when its input is not.
  bool reads_only_shapes = false;
  /// The op makes a tensor whose sizes are a static input (ConstantOfShape): when
  /// they are symbolic it is traced into the graph, not computed as a constant.
  bool sized_by_input = false;
};

/// Runs ops on real tensors, untraced and without autograd, for a scope: how a
/// converter derives constants from static inputs inside a traced node.
class StaticScope {
 public:
  StaticScope();
  ~StaticScope();
  StaticScope(const StaticScope&) = delete;
  StaticScope& operator=(const StaticScope&) = delete;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// The symbolic elements of a static node's outputs, from its symbolic inputs: set
/// by the converter, or followed through the ops that move integers around (Gather,
/// Concat, Slice, Unsqueeze, ...) and through integer arithmetic. An entry is null
/// where an output's elements could not be followed (Note [Symbolic static values]).
std::vector<std::shared_ptr<const SymShape>> follow_symbols(const OpRow& row, const NodeContext& ctx,
                                                            const std::vector<const Value*>& inputs,
                                                            const TensorList& outs, bool float64);

/// What the model uses that the table lacks: op types (with their nodes), attributes,
/// ops newer than the model's opset. Each line starts with "unsupported".
std::vector<std::string> support_problems(const Model& m);

/// The row for `op_type`, or null.
const OpRow* find_op_row(const std::string& op_type);
const std::vector<OpRow>& op_rows();

// The converters, by family (convert_*.cpp); op_table.cpp lists them.
#define AOTGRAD_ONNX_CONVERTER(name) TensorList name(NodeContext& ctx)
// convert_elementwise.cpp
AOTGRAD_ONNX_CONVERTER(convert_unary);
AOTGRAD_ONNX_CONVERTER(convert_binary);
AOTGRAD_ONNX_CONVERTER(convert_variadic);
AOTGRAD_ONNX_CONVERTER(convert_pow);
AOTGRAD_ONNX_CONVERTER(convert_where);
AOTGRAD_ONNX_CONVERTER(convert_cast);
AOTGRAD_ONNX_CONVERTER(convert_cast_like);
AOTGRAD_ONNX_CONVERTER(convert_is_inf);
AOTGRAD_ONNX_CONVERTER(convert_shrink);
AOTGRAD_ONNX_CONVERTER(convert_clip);
AOTGRAD_ONNX_CONVERTER(convert_activation);
AOTGRAD_ONNX_CONVERTER(convert_prelu);
AOTGRAD_ONNX_CONVERTER(convert_identity);
AOTGRAD_ONNX_CONVERTER(convert_dropout);
// convert_reduce.cpp
AOTGRAD_ONNX_CONVERTER(convert_reduce);
AOTGRAD_ONNX_CONVERTER(convert_arg_reduce);
AOTGRAD_ONNX_CONVERTER(convert_softmax);
AOTGRAD_ONNX_CONVERTER(convert_hardmax);
AOTGRAD_ONNX_CONVERTER(convert_mean_variance_normalization);
AOTGRAD_ONNX_CONVERTER(convert_cross_entropy);
AOTGRAD_ONNX_CONVERTER(convert_nll_loss);
// convert_shape.cpp
AOTGRAD_ONNX_CONVERTER(convert_constant);
AOTGRAD_ONNX_CONVERTER(convert_constant_of_shape);
AOTGRAD_ONNX_CONVERTER(convert_shape);
AOTGRAD_ONNX_CONVERTER(convert_size);
AOTGRAD_ONNX_CONVERTER(convert_reshape);
AOTGRAD_ONNX_CONVERTER(convert_flatten);
AOTGRAD_ONNX_CONVERTER(convert_transpose);
AOTGRAD_ONNX_CONVERTER(convert_squeeze);
AOTGRAD_ONNX_CONVERTER(convert_unsqueeze);
AOTGRAD_ONNX_CONVERTER(convert_concat);
AOTGRAD_ONNX_CONVERTER(convert_split);
AOTGRAD_ONNX_CONVERTER(convert_slice);
AOTGRAD_ONNX_CONVERTER(convert_gather);
AOTGRAD_ONNX_CONVERTER(convert_expand);
AOTGRAD_ONNX_CONVERTER(convert_tile);
AOTGRAD_ONNX_CONVERTER(convert_range);
AOTGRAD_ONNX_CONVERTER(convert_trilu);
AOTGRAD_ONNX_CONVERTER(convert_scatter_nd);
AOTGRAD_ONNX_CONVERTER(convert_pad);
AOTGRAD_ONNX_CONVERTER(convert_depth_to_space);
AOTGRAD_ONNX_CONVERTER(convert_space_to_depth);
// convert_index.cpp
AOTGRAD_ONNX_CONVERTER(convert_gather_elements);
AOTGRAD_ONNX_CONVERTER(convert_scatter_elements);
AOTGRAD_ONNX_CONVERTER(convert_gather_nd);
AOTGRAD_ONNX_CONVERTER(convert_one_hot);
AOTGRAD_ONNX_CONVERTER(convert_eye_like);
// convert_nn.cpp
AOTGRAD_ONNX_CONVERTER(convert_gemm);
AOTGRAD_ONNX_CONVERTER(convert_matmul);
AOTGRAD_ONNX_CONVERTER(convert_conv);
AOTGRAD_ONNX_CONVERTER(convert_max_pool);
AOTGRAD_ONNX_CONVERTER(convert_average_pool);
AOTGRAD_ONNX_CONVERTER(convert_global_pool);
AOTGRAD_ONNX_CONVERTER(convert_batch_norm);
AOTGRAD_ONNX_CONVERTER(convert_layer_norm);
AOTGRAD_ONNX_CONVERTER(convert_instance_norm);
#undef AOTGRAD_ONNX_CONVERTER

/// Pads `x` with `value` by `before[d]` / `after[d]` elements on each dim (negative
/// amounts crop); the Pad op's constant mode, also used for asymmetric conv/pool pads.
Tensor pad_constant(const Tensor& x, const std::vector<int64_t>& before, const std::vector<int64_t>& after,
                    double value);
/// The same with a one-element tensor as the fill.
Tensor pad_constant(const Tensor& x, const std::vector<int64_t>& before, const std::vector<int64_t>& after,
                    const Tensor& value);

}  // namespace aotgrad::onnx_io
