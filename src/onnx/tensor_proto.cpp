#include "onnx/tensor_proto.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "aotgrad/ops.h"
#include "support/error.h"

namespace aotgrad::onnx_io {

std::optional<DType> dtype_of_elem_type(int32_t elem_type) {
  switch (elem_type) {
    case onnx::TensorProto_DataType_FLOAT:
      return DType::Float32;
    case onnx::TensorProto_DataType_DOUBLE:
      return DType::Float64;
    case onnx::TensorProto_DataType_INT64:
      return DType::Int64;
    case onnx::TensorProto_DataType_INT32:
      return DType::Int32;
    case onnx::TensorProto_DataType_BOOL:
      return DType::Bool;
    default:
      return std::nullopt;
  }
}

int32_t elem_type_of(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return onnx::TensorProto_DataType_FLOAT;
    case DType::Float64:
      return onnx::TensorProto_DataType_DOUBLE;
    case DType::Int64:
      return onnx::TensorProto_DataType_INT64;
    case DType::Int32:
      return onnx::TensorProto_DataType_INT32;
    case DType::Bool:
      return onnx::TensorProto_DataType_BOOL;
  }
  return onnx::TensorProto_DataType_UNDEFINED;
}

std::string elem_type_name(int32_t elem_type) {
  if (onnx::TensorProto_DataType_IsValid(elem_type))
    return onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(elem_type));
  return fmt::format("element type {}", elem_type);
}

// External data (Note [External data] in docs/ONNX.md): a path relative to the
// model's folder that stays inside it, an offset and a length within the file.
static std::string read_external(const onnx::TensorProto& proto, const std::string& base_dir, const std::string& what,
                                 int64_t want_bytes) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : proto.external_data()) {
    auto number = [&](const std::string& v) {
      try {
        size_t used = 0;
        long long n = std::stoll(v, &used);
        AG_CHECK(used == v.size() && n >= 0, "");
        return static_cast<int64_t>(n);
      } catch (...) {
        AG_FAIL("{}: external data '{}' is '{}', expected a non-negative integer", what, kv.key(), v);
      }
    };
    if (kv.key() == "location") location = kv.value();
    if (kv.key() == "offset") offset = number(kv.value());
    if (kv.key() == "length") length = number(kv.value());
  }
  AG_CHECK(!location.empty(), "{}: external data without a 'location'", what);
  std::filesystem::path rel(location);
  AG_CHECK(rel.is_relative() && std::find(rel.begin(), rel.end(), "..") == rel.end(),
           "{}: external data location '{}' must be a relative path inside the model's folder", what, location);
  const std::filesystem::path full = std::filesystem::path(base_dir.empty() ? "." : base_dir) / rel;
  std::ifstream in(full, std::ios::binary);
  AG_CHECK(in.good(), "{}: its external data file '{}' is missing or unreadable", what, full.string());
  in.seekg(0, std::ios::end);
  const int64_t size = static_cast<int64_t>(in.tellg());
  if (length < 0) length = want_bytes;
  AG_CHECK(length == want_bytes, "{}: external data length {} does not match its shape ({} bytes)", what, length,
           want_bytes);
  AG_CHECK(offset <= size && length <= size - offset,
           "{}: external data '{}' has {} bytes, but offset {} + length {} reach past its end", what, full.string(),
           size, offset, length);
  std::string bytes(static_cast<size_t>(length), '\0');
  in.seekg(offset);
  in.read(bytes.data(), length);
  AG_CHECK(in.good(), "{}: reading external data '{}' failed", what, full.string());
  return bytes;
}

// Copies `count` typed-field values (protobuf's repeated fields) into `out`.
template <typename T, typename Field>
static void copy_field(const Field& field, Tensor& out, int64_t count, const std::string& what) {
  AG_CHECK(static_cast<int64_t>(field.size()) == count, "{}: has {} values, its shape needs {}", what, field.size(),
           count);
  T* dst = out.data_ptr<T>();
  for (int64_t i = 0; i < count; ++i) dst[i] = static_cast<T>(field.Get(static_cast<int>(i)));
}

Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::string& base_dir, const std::string& what) {
  std::optional<DType> dtype = dtype_of_elem_type(proto.data_type());
  AG_CHECK(dtype.has_value(), "{}: element type {} is not supported (aotgrad has float32, float64, int64, int32, bool)",
           what, elem_type_name(proto.data_type()));
  AG_CHECK(!proto.has_segment(), "{}: segmented tensors are not supported", what);
  Shape sizes(proto.dims().begin(), proto.dims().end());
  for (int64_t d : sizes) AG_CHECK(d >= 0, "{}: negative dimension in shape {}", what, shape_str(sizes));
  const int64_t count = shape_numel(sizes);  // checks the element count's limit
  Tensor out = Tensor::empty(sizes, *dtype);
  const int64_t bytes = count * dtype_size(*dtype);
  auto from_bytes = [&](const std::string& raw) {
    AG_CHECK(static_cast<int64_t>(raw.size()) == bytes, "{}: has {} bytes of data, its shape {} of {} needs {}", what,
             raw.size(), shape_str(sizes), dtype_name(*dtype), bytes);
    if (*dtype == DType::Bool) {
      bool* dst = out.data_ptr<bool>();
      for (int64_t i = 0; i < count; ++i) dst[i] = raw[static_cast<size_t>(i)] != 0;
    } else if (bytes > 0) {
      std::memcpy(out.raw_data(), raw.data(), static_cast<size_t>(bytes));
    }
  };
  if (proto.data_location() == onnx::TensorProto_DataLocation_EXTERNAL) {
    from_bytes(read_external(proto, base_dir, what, bytes));
  } else if (proto.has_raw_data()) {
    from_bytes(proto.raw_data());
  } else {
    switch (*dtype) {
      case DType::Float32:
        copy_field<float>(proto.float_data(), out, count, what);
        break;
      case DType::Float64:
        copy_field<double>(proto.double_data(), out, count, what);
        break;
      case DType::Int64:
        copy_field<int64_t>(proto.int64_data(), out, count, what);
        break;
      case DType::Int32:
        copy_field<int32_t>(proto.int32_data(), out, count, what);
        break;
      case DType::Bool:
        copy_field<bool>(proto.int32_data(), out, count, what);
        break;
    }
  }
  return out;
}

void fill_proto(onnx::TensorProto& proto, const Tensor& value) {
  Tensor v = contiguous(value);
  proto.clear_float_data();
  proto.clear_double_data();
  proto.clear_int32_data();
  proto.clear_int64_data();
  proto.clear_external_data();
  proto.set_data_location(onnx::TensorProto_DataLocation_DEFAULT);
  proto.set_data_type(elem_type_of(v.dtype()));
  proto.clear_dims();
  for (int64_t d : v.sizes()) proto.add_dims(d);
  const size_t bytes = static_cast<size_t>(v.numel() * dtype_size(v.dtype()));
  std::string raw(bytes, '\0');
  if (v.dtype() == DType::Bool) {
    const bool* src = v.data_ptr<bool>();
    for (size_t i = 0; i < bytes; ++i) raw[i] = src[i] ? 1 : 0;
  } else if (bytes > 0) {
    std::memcpy(raw.data(), v.raw_data(), bytes);
  }
  proto.set_raw_data(std::move(raw));
}

}  // namespace aotgrad::onnx_io
