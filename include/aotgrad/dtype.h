// Element types of tensors and the promotion rules between them.
#pragma once

#include <cstdint>
#include <string_view>

namespace aotgrad {

enum class DType : uint8_t { Float32, Float64, Int64, Int32, Bool };

inline constexpr DType kAllDTypes[] = {DType::Float32, DType::Float64, DType::Int64, DType::Int32, DType::Bool};

/// Bytes per element.
int64_t dtype_size(DType t);
/// PyTorch's name: "float32", "int64", "bool".
std::string_view dtype_name(DType t);
/// The abbreviation FX prints in type annotations: "f32", "i64", "b8".
std::string_view dtype_abbrev(DType t);
/// "torch.float32" — how a dtype argument prints in a graph.
std::string_view dtype_torch_name(DType t);
/// Parses dtype_name() or dtype_torch_name(); returns false if unknown.
bool parse_dtype(std::string_view s, DType* out);
bool is_floating(DType t);
bool is_integral(DType t);  // int32, int64 (not bool)
/// The result type of a binary op on two tensors of these types (both with dims).
DType promote_types(DType a, DType b);

/// Calls f.template operator()<T>() with T the C++ type of `t`.
template <typename F>
decltype(auto) visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::Float32:
      return f.template operator()<float>();
    case DType::Float64:
      return f.template operator()<double>();
    case DType::Int64:
      return f.template operator()<int64_t>();
    case DType::Int32:
      return f.template operator()<int32_t>();
    case DType::Bool:
      return f.template operator()<bool>();
  }
  return f.template operator()<float>();
}

template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::Float32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::Float64;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::Int64;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::Int32;
}
template <>
constexpr DType dtype_of<bool>() {
  return DType::Bool;
}

}  // namespace aotgrad
