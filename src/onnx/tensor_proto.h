// ONNX TensorProto <-> Tensor (the only files besides read_model.cpp and
// write_model.cpp that include protobuf headers).
#pragma once

#include <onnx/onnx_pb.h>

#include <optional>
#include <string>

#include "aotgrad/tensor.h"

namespace aotgrad::onnx_io {

/// The aotgrad dtype of an ONNX element type, or nullopt (float16, uint8, string, …).
std::optional<DType> dtype_of_elem_type(int32_t elem_type);
int32_t elem_type_of(DType dtype);

/// Reads a tensor's values: typed fields or raw_data (little-endian), or its
/// external-data file under `base_dir`. `what` names it in errors ("initializer
/// 'fc.weight'"). Every length is checked against the shape.
Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::string& base_dir, const std::string& what);

/// Fills `proto`'s values (raw_data) from `value`, keeping its name; dims and type
/// must already agree.
void fill_proto(onnx::TensorProto& proto, const Tensor& value);

}  // namespace aotgrad::onnx_io
