#include "aotgrad/dtype.h"

namespace aotgrad {

int64_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32:
      return 4;
    case DType::Float64:
      return 8;
    case DType::Int64:
      return 8;
    case DType::Int32:
      return 4;
    case DType::Bool:
      return 1;
  }
  return 1;
}

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::Float32:
      return "float32";
    case DType::Float64:
      return "float64";
    case DType::Int64:
      return "int64";
    case DType::Int32:
      return "int32";
    case DType::Bool:
      return "bool";
  }
  return "?";
}

std::string_view dtype_abbrev(DType t) {
  switch (t) {
    case DType::Float32:
      return "f32";
    case DType::Float64:
      return "f64";
    case DType::Int64:
      return "i64";
    case DType::Int32:
      return "i32";
    case DType::Bool:
      return "b8";
  }
  return "?";
}

std::string_view dtype_torch_name(DType t) {
  switch (t) {
    case DType::Float32:
      return "torch.float32";
    case DType::Float64:
      return "torch.float64";
    case DType::Int64:
      return "torch.int64";
    case DType::Int32:
      return "torch.int32";
    case DType::Bool:
      return "torch.bool";
  }
  return "?";
}

bool parse_dtype(std::string_view s, DType* out) {
  for (DType t : kAllDTypes) {
    if (s == dtype_name(t) || s == dtype_torch_name(t) || s == dtype_abbrev(t)) {
      *out = t;
      return true;
    }
  }
  if (s == "float" || s == "torch.float") {
    *out = DType::Float32;
    return true;
  }
  if (s == "double" || s == "torch.double") {
    *out = DType::Float64;
    return true;
  }
  if (s == "long" || s == "torch.long") {
    *out = DType::Int64;
    return true;
  }
  return false;
}

bool is_floating(DType t) {
  return t == DType::Float32 || t == DType::Float64;
}
bool is_integral(DType t) {
  return t == DType::Int32 || t == DType::Int64;
}

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  auto rank = [](DType t) {
    switch (t) {
      case DType::Bool:
        return 0;
      case DType::Int32:
        return 1;
      case DType::Int64:
        return 2;
      case DType::Float32:
        return 3;
      case DType::Float64:
        return 4;
    }
    return 0;
  };
  return rank(a) >= rank(b) ? a : b;
}

}  // namespace aotgrad
