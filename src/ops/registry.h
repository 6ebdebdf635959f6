// The op table: one OpInfo per op overload (STYLE.md rule 1).
//
// op_table.def lists every op once, with its kind and schema. The shape rule,
// CPU kernel, derivative and decomposition of each are registered next to their
// op family (shape/, cpu/, grad/, composite/, lowerings/). Nothing else keeps a list of ops.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "aotgrad/ivalue.h"
#include "ops/elementwise.h"
#include "ops/schema.h"
#include "ops/sym_shape.h"

namespace aotgrad::ops {

enum class OpId : uint16_t {
#define AG_OP(id, kind, tags, schema) id,
#include "ops/op_table.def"
#undef AG_OP
  kCount
};
inline constexpr size_t kNumOps = static_cast<size_t>(OpId::kCount);

enum class OpKind {
  Compute,    // allocates fresh outputs and runs a kernel
  View,       // outputs alias `self` (the first argument); the shape rule gives their layout
  InPlace,    // writes into `self` and returns it
  Composite,  // always replaced by its decomposition, before autograd (CompositeImplicitAutograd)
};

/// What passes need to know of an op without naming it (the tags column of
/// op_table.def). A bitmask: an op may carry several.
enum OpTag : uint32_t {
  NoTag = 0,
  /// Elementwise: each output element depends only on the same (broadcast) element of
  /// each input. The partitioner recomputes such ops freely, the executor may write
  /// their output over an input that dies there, fusion chains them (Tag.pointwise).
  Pointwise = 1u << 0,
  /// Reduces dims (sums, means, variances, extrema, softmax over a dim).
  Reduction = 1u << 1,
  /// Layer and batch normalisation: cheap to recompute relative to their saved inputs.
  Normalisation = 1u << 2,
  Pool = 1u << 3,
  /// Makes a tensor from sizes and values only (no tensor data read).
  Factory = 1u << 4,
  /// Draws random numbers: never recomputed (a recomputation would differ).
  Random = 1u << 5,
  /// Communicates across processes.
  Collective = 1u << 6,
  /// The kernel leaves its last output alone when given no tensor for it (max pooling's
  /// indices, which only its backward reads): where nothing reads that output, the
  /// compiled program gives it none.
  LastOutputOptional = 1u << 7,
};

struct BackwardContext;

/// Computes the outputs' metadata (meta tensors) from the arguments, checking them.
// std::function rather than plain pointers: custom ops (SPEC.md §8) register
// closures over the user's functions.
using ShapeFn = std::function<Outputs(const Args& args)>;
/// Fills `outs`, already allocated from the shape rule (for InPlace ops: `self`).
using KernelFn = std::function<void(const Args& args, Outputs& outs)>;
/// Gradients of the differentiable inputs (one per tensor slot, see BackwardContext).
using DerivativeFn = std::function<std::vector<Tensor>(const BackwardContext& ctx)>;
/// The kernel with a unary formula applied to its output (output 0) as it is
/// written (Note [Epilogues], ops/elementwise.h): the same values as the kernel and
/// then the formula's op.
using EpilogueKernelFn = std::function<void(const Args& args, Outputs& outs, const Epilogue& epilogue)>;
/// The op, then a max pool that alone reads its output and returns its values alone, as
/// one kernel (Note [Images through two kernels] in compile/image_pipeline.cpp): the
/// op's arguments and epilogue (null: none), the pool's arguments (its input unread) and
/// outputs. Returns false, writing nothing, where it declines.
using ThenMaxPoolFn =
    std::function<bool(const Args& first, const Epilogue* epilogue, const Args& pool, Outputs& pool_outs)>;
/// The op written with simpler ops through the public tensor API.
using DecompositionFn = std::function<Outputs(const Args& args)>;

/// Tag for Registry::derivative: the formula reads the op's result.
struct ReadsResult {};
inline constexpr ReadsResult reads_result{};

struct OpInfo {
  OpId id{};
  OpKind kind = OpKind::Compute;
  Schema schema;
  ShapeFn shape = nullptr;
  /// The results' sizes as expressions, in a symbolic trace (Note [Symbolic shape
  /// rules]); without one, a symbolic trace specialises the op's inputs.
  SymShapeFn sym_shape = nullptr;
  KernelFn kernel = nullptr;
  /// The kernel taking an epilogue, for ops whose kernel can apply one (convolution).
  EpilogueKernelFn with_epilogue = nullptr;
  /// The kernel (and with_epilogue) writes output 0 wherever the output tensor's
  /// strides put it, so the compiled program may hand it a slice of a concatenation's
  /// output (Note [Concatenations in place] in compile/concat_in_place.cpp).
  bool writes_into_slices = false;
  ThenMaxPoolFn then_max_pool = nullptr;
  DerivativeFn derivative = nullptr;
  /// Explicitly no derivative (integer results, comparisons, backward helpers).
  bool not_differentiable = false;
  /// The derivative reads the op's result (output 0), so autograd saves it, as
  /// PyTorch does, through two detaches (Note [Saved results]).
  bool derivative_reads_result = false;
  DecompositionFn decomposition = nullptr;
  /// Only the first N flattened outputs carry gradients (-1: all floating ones);
  /// e.g. batch norm's saved statistics and new running stats carry none.
  int differentiable_outputs = -1;
  /// OpTag bits, from op_table.def.
  uint32_t tags = OpTag::NoTag;
  /// An InPlace op's functional form (add_.Tensor -> add.Tensor); the tracer records that.
  std::optional<OpId> functional;
  /// A custom op known only by the schema a graph file carried (declare_op_schema): it
  /// prints, verifies (its nodes' recorded metadata are trusted) and saves, and its
  /// shape rule and kernel say which op must be registered before it can run.
  bool schema_only = false;
  /// Note [One formula per elementwise op]: the formula this op computes, when it does.
  std::optional<ElementwiseForm> elementwise;

  bool has(OpTag tag) const { return (tags & tag) != 0; }
  const std::string& name() const { return schema.name; }
  /// "aten::addmm.default"
  std::string qualified_name() const { return schema.qualified_name(); }
};

/// The table, filled on first use by every family's registration function.
const OpInfo& op_info(OpId id);
/// The built-in ops (the table of op_table.def).
const std::vector<OpInfo>& all_ops();
/// Adds an op at run time (a custom op); its id follows the built-in ones. Throws if
/// an op of that qualified name exists, unless that one is schema-only with the same
/// schema: then it gets this implementation in place (graphs loaded before keep their
/// pointers to it).
const OpInfo& register_op(OpInfo info);
/// The op a graph file's custom-op schema names: the registered one if its schema is
/// the same (a user error if it differs), or a new schema-only op.
const OpInfo& declare_op_schema(const Schema& schema);
/// Whether `op` was added at run time (a custom op), not built in.
bool is_runtime_op(const OpInfo& op);
/// The ops registered at run time, in registration order.
std::vector<const OpInfo*> registered_ops();
/// Finds an op by "aten::addmm.default", "aten.addmm.default" or "addmm" (default overload).
const OpInfo* find_op(std::string_view name);

/// Used by the family files while the table is built.
class Registry {
 public:
  OpInfo& operator[](OpId id);
  void shape(OpId id, ShapeFn f) { (*this)[id].shape = f; }
  void sym_shape(OpId id, SymShapeFn f) { (*this)[id].sym_shape = f; }
  void kernel(OpId id, KernelFn f) { (*this)[id].kernel = f; }
  void with_epilogue(OpId id, EpilogueKernelFn f) { (*this)[id].with_epilogue = f; }
  void writes_into_slices(OpId id) { (*this)[id].writes_into_slices = true; }
  void then_max_pool(OpId id, ThenMaxPoolFn f) { (*this)[id].then_max_pool = f; }
  void derivative(OpId id, DerivativeFn f) { (*this)[id].derivative = f; }
  /// A derivative that reads the op's result: `r.derivative(OpId::exp, reads_result, f)`.
  void derivative(OpId id, ReadsResult, DerivativeFn f) {
    derivative(id, std::move(f));
    (*this)[id].derivative_reads_result = true;
  }
  void not_differentiable(OpId id) { (*this)[id].not_differentiable = true; }
  void decomposition(OpId id, DecompositionFn f) { (*this)[id].decomposition = f; }
  void differentiable_outputs(OpId id, int n) { (*this)[id].differentiable_outputs = n; }
  void elementwise(OpId id, ElementwiseForm form) { (*this)[id].elementwise = form; }

  explicit Registry(std::vector<OpInfo>& table) : table_(table) {}

 private:
  std::vector<OpInfo>& table_;
};

}  // namespace aotgrad::ops
