// The parsed ONNX file, free of protobuf: what the op table and the module read.
// read_model.cpp fills it from a ModelProto; nothing else in aotgrad sees protobuf.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "aotgrad/onnx.h"
#include "aotgrad/tensor.h"

namespace aotgrad::onnx_io {

/// One attribute of a node, by the type ONNX gives it.
struct Attribute {
  enum class Type { Int, Float, String, Tensor, Ints, Floats, Strings, Graph, Other };
  Type type = Type::Other;
  int64_t i = 0;
  double f = 0;
  std::string s;
  Tensor t;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;
};

struct Node {
  std::string name;                          // the ONNX node name, or "<op_type> #k" when the file gives none
  std::string op_type;                       // "Conv"
  std::vector<std::string> inputs, outputs;  // "" is an absent optional input / output
  std::map<std::string, Attribute> attributes;
};

/// An input or output as the file declares it; a dimension of -1 is unknown or
/// symbolic (`dim_params` keeps the symbol, "" if none).
struct DeclaredValue {
  std::string name;
  std::optional<DType> dtype;  // nullopt: an element type aotgrad has no tensors of
  int32_t onnx_elem_type = 0;
  std::vector<int64_t> dims;
  std::vector<std::string> dim_params;
  bool has_shape = false;
};

struct Model {
  std::string path;   // for messages, and where external data lives
  int64_t opset = 0;  // of the default ("ai.onnx") domain
  int64_t ir_version = 0;
  std::vector<DeclaredValue> inputs;  // graph inputs that are not initializers
  std::vector<DeclaredValue> outputs;
  std::vector<std::pair<std::string, Tensor>> initializers;  // in file order
  std::vector<Node> nodes;                                   // topologically sorted (checked)
  /// The file's bytes, kept for writing the model back with new initializer values.
  std::string bytes;
};

/// Parses and checks `bytes`; `path` names the file in errors, `base_dir` holds its
/// external data.
std::shared_ptr<const Model> read_model(std::string_view bytes, const std::string& path, const std::string& base_dir);

/// Writes `model`'s bytes with the initializers named in `values` replaced.
std::string write_model(const Model& model, const std::vector<std::pair<std::string, Tensor>>& values);

/// The ONNX element type's name ("FLOAT16") for messages.
std::string elem_type_name(int32_t elem_type);

}  // namespace aotgrad::onnx_io
