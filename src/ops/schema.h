// Op schemas in PyTorch's notation, parsed once at start-up.
//
//   "addmm(Tensor self, Tensor mat1, Tensor mat2, *, Scalar beta=1, Scalar alpha=1) -> Tensor"
//
// The schema is the single source of an op's argument names, types, defaults and
// which arguments are keyword-only; error messages, argument normalisation and
// (later) the graph printer all read it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "aotgrad/ivalue.h"

namespace aotgrad::ops {

enum class ArgType {
  Tensor,
  OptTensor,
  TensorList,
  OptTensorList,  // Tensor?[]: None entries are undefined tensors
  Int,
  OptInt,
  IntList,
  OptIntList,
  Float,
  OptFloat,
  Bool,
  OptBool,
  BoolList,
  Scalar,
  OptScalar,
  ScalarType,
  OptScalarType,
  Str,
  Ignored,  // Layout?, Device?, MemoryFormat?: always None on the CPU
};

struct Argument {
  std::string name;
  std::string type_text;  // as written: "int[2]", "Tensor?"
  ArgType type = ArgType::Tensor;
  bool kwarg_only = false;
  bool is_write = false;  // Tensor(a!): mutated in place
  bool is_alias = false;  // Tensor(a): the result may alias it
  std::optional<IValue> default_value;
  int fixed_length = 0;  // int[2] → 2: a single int is repeated
};

struct Return {
  ArgType type = ArgType::Tensor;
  std::string name;
  bool is_write = false;
  bool is_alias = false;
};

struct Schema {
  std::string ns = "aten";  // "aten" or "prims"
  std::string name;         // "addmm"
  std::string overload;     // "default" when the text has none
  std::vector<Argument> args;
  std::vector<Return> returns;
  std::string text;

  /// "aten::addmm.default"
  std::string qualified_name() const;
  /// "aten.addmm.default" (the form FX prints after torch.ops.)
  std::string dotted_name() const;
  int arg_index(std::string_view name) const;  // -1 if absent
};

/// Whether `arg` (one of schema's) is a Tensor argument that may be a number, a
/// "wrapped number": ATen's `other` (x + 1 is aten.add.Tensor(x, 1)), and every prim
/// operand after the first (PyTorch's relu lowers to prims.where(x <= 0.0, 0.0, x)).
bool accepts_wrapped_number(const Schema& schema, const Argument& arg);
/// Parses PyTorch schema text; throws an internal error naming the schema on failure.
Schema parse_schema(const std::string& text);

bool is_tensor_like(ArgType t);

}  // namespace aotgrad::ops
