// IValue: one argument or result of an op — a tensor, a number, a list, a dtype…
//
// Ops take and return vectors of IValues in their schema's order, so that one
// dispatcher, one autograd wrapper and (later) one tracer serve every op.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "aotgrad/tensor.h"

namespace aotgrad {

/// A number argument (PyTorch's Scalar): keeps whether it was written as an
/// integer, a float or a bool, because that decides the result dtype.
class Scalar {
 public:
  Scalar() : v_(int64_t{0}) {}
  Scalar(double d) : v_(d) {}         // NOLINT(google-explicit-constructor)
  Scalar(float d) : v_(double{d}) {}  // NOLINT
  Scalar(int64_t i) : v_(i) {}        // NOLINT
  Scalar(int i) : v_(int64_t{i}) {}   // NOLINT
  Scalar(bool b) : v_(b) {}           // NOLINT
  bool is_floating() const { return std::holds_alternative<double>(v_); }
  bool is_integral() const { return std::holds_alternative<int64_t>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  double to_double() const;
  int64_t to_int() const;
  /// Python's repr: 1, 1.0, 1e-05, True.
  std::string repr() const;
  bool operator==(const Scalar& o) const { return v_ == o.v_; }

 private:
  std::variant<double, int64_t, bool> v_;
};

struct None {
  bool operator==(const None&) const { return true; }
};
using IntList = std::vector<int64_t>;
using TensorList = std::vector<Tensor>;
using BoolList = std::vector<bool>;

class IValue {
 public:
  IValue() : v_(None{}) {}
  IValue(None) : v_(None{}) {}                   // NOLINT
  IValue(Tensor t) : v_(std::move(t)) {}         // NOLINT
  IValue(int64_t i) : v_(i) {}                   // NOLINT
  IValue(int i) : v_(int64_t{i}) {}              // NOLINT
  IValue(double d) : v_(d) {}                    // NOLINT
  IValue(bool b) : v_(b) {}                      // NOLINT
  IValue(std::string s) : v_(std::move(s)) {}    // NOLINT
  IValue(const char* s) : v_(std::string(s)) {}  // NOLINT
  IValue(IntList l) : v_(std::move(l)) {}        // NOLINT
  IValue(TensorList l) : v_(std::move(l)) {}     // NOLINT
  IValue(BoolList l) : v_(std::move(l)) {}       // NOLINT
  IValue(DType d) : v_(d) {}                     // NOLINT
  IValue(const Scalar& s);                       // NOLINT
  /// An int or a list of ints that may be size expressions (a symbolic trace's view
  /// shapes, slice ends): the value holds their hints, and the expressions beside.
  IValue(const SymInt& i);    // NOLINT
  IValue(const SymShape& l);  // NOLINT

  bool is_none() const { return std::holds_alternative<None>(v_); }
  bool is_tensor() const { return std::holds_alternative<Tensor>(v_); }
  bool is_int() const { return std::holds_alternative<int64_t>(v_); }
  bool is_double() const { return std::holds_alternative<double>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_string() const { return std::holds_alternative<std::string>(v_); }
  bool is_int_list() const { return std::holds_alternative<IntList>(v_); }
  bool is_tensor_list() const { return std::holds_alternative<TensorList>(v_); }
  bool is_bool_list() const { return std::holds_alternative<BoolList>(v_); }
  bool is_dtype() const { return std::holds_alternative<DType>(v_); }
  bool is_scalar() const { return is_int() || is_double() || is_bool(); }

  const Tensor& to_tensor() const;
  /// An optional tensor: undefined when None.
  Tensor to_opt_tensor() const;
  int64_t to_int() const;
  double to_double() const;
  bool to_bool() const;
  Scalar to_scalar() const;
  const std::string& to_string() const;
  const IntList& to_int_list() const;
  const TensorList& to_tensor_list() const;
  TensorList& to_tensor_list();
  const BoolList& to_bool_list() const;
  DType to_dtype() const;
  /// Whether this int or int list carries size expressions.
  bool is_symbolic() const { return sym_ != nullptr; }
  /// The int (list) with its expressions (constants when it carries none).
  SymInt to_sym_int() const;
  SymShape to_sym_int_list() const;
  /// "Tensor", "int", "list of int"… for error messages.
  std::string type_name() const;

  bool operator==(const IValue& o) const;

 private:
  std::variant<None, Tensor, int64_t, double, bool, std::string, IntList, TensorList, BoolList, DType> v_;
  /// The expressions of a symbolic int (one) or int list (one per item); null otherwise.
  std::shared_ptr<const std::vector<SymExpr>> sym_;
};

/// The sizes an op takes (a view's shape, a factory's sizes, a backward's input
/// sizes): plain integers, or in a symbolic trace SymInts, so that the graph records
/// the expressions (`view(t, {x.sym_size(0), -1})`). Built from a braced list of
/// either, an IntList or a SymShape.
class SizeList {
 public:
  SizeList(std::initializer_list<SymInt> items) : SizeList(SymShape(items)) {}
  SizeList(const IntList& values) : value_(values) {}  // NOLINT
  SizeList(const SymShape& items) : value_(items) {}   // NOLINT
  operator IValue() const { return value_; }           // NOLINT
  const IntList& values() const { return value_.to_int_list(); }

 private:
  IValue value_;
};

using Args = std::vector<IValue>;
using Outputs = std::vector<IValue>;

}  // namespace aotgrad
