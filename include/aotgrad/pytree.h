// Pytrees: nested values (lists, tuples, string-keyed ordered dicts) with
// leaves, flattened to a list of leaves plus a TreeSpec that rebuilds them.
//
// A module's forward takes and returns Values; the joint graph's in_spec is the
// spec of (args, kwargs) and its out_spec the spec of the result (SPEC.md §3).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "aotgrad/ivalue.h"

namespace aotgrad::pytree {

class Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;  // insertion ordered

/// A leaf (tensor, int, double, bool, string, None) or a container.
class Value {
 public:
  enum class Kind { Leaf, List, Tuple, Dict };
  Value() : kind_(Kind::Leaf), leaf_(None{}) {}
  Value(IValue leaf) : kind_(Kind::Leaf), leaf_(std::move(leaf)) {}  // NOLINT
  Value(Tensor t) : Value(IValue(std::move(t))) {}                   // NOLINT
  static Value list(List items);
  static Value tuple(List items);
  static Value dict(Dict items);

  Kind kind() const { return kind_; }
  bool is_leaf() const { return kind_ == Kind::Leaf; }
  const IValue& leaf() const;
  const List& items() const;  // list or tuple
  const Dict& entries() const;
  /// The tensor of a tensor leaf; throws otherwise.
  const Tensor& tensor() const;
  /// Element i of a list/tuple, or the value under `key` of a dict.
  const Value& operator[](size_t i) const;
  const Value& at(const std::string& key) const;
  size_t size() const;

 private:
  Kind kind_;
  IValue leaf_;
  List items_;
  Dict entries_;
};

/// The structure of a Value without its leaves.
class TreeSpec {
 public:
  Value::Kind kind = Value::Kind::Leaf;
  std::vector<TreeSpec> children;
  std::vector<std::string> keys;  // dict keys, in order
  /// Number of leaves under this spec.
  size_t num_leaves() const;
  /// PyTorch's printed form: TreeSpec(tuple, None, [*, *]).
  std::string str() const;
  bool operator==(const TreeSpec& o) const;
};

std::pair<std::vector<IValue>, TreeSpec> flatten(const Value& v);
/// Rebuilds a Value; throws if the number of leaves does not match the spec.
Value unflatten(const std::vector<IValue>& leaves, const TreeSpec& spec);

}  // namespace aotgrad::pytree
