// Users' own models from ONNX files (docs/ONNX.md).
//
// `load` reads a ModelProto with the ONNX project's own library (Debian libonnx:
// its protobuf classes and its checker) and makes an `OnnxModule`: an nn::Module
// whose parameters are the file's trainable float initializers (named as the file
// names them; PyTorch's exports keep the FQN, "conv1.weight"), whose buffers are the
// BatchNormalization running statistics, and whose forward runs the graph's nodes in
// order through the op table, one row per ONNX op type (src/onnx/op_table.cpp). So
// an imported model runs eagerly, exports, compiles and trains like a built-in one;
// every node it makes carries its ONNX node's name where FX prints a stack trace
// ("ONNX node: /layer1/conv1/Conv").
//
// Values computable when the model is loaded — constants, shapes of tensors, and
// arithmetic on them (the shape arithmetic exporters emit) — are computed on real
// tensors even while tracing, so the graph holds only the tensor computation
// (Note [Static values] in src/onnx/onnx_module.cpp).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "aotgrad/models.h"
#include "aotgrad/nn.h"

namespace aotgrad::onnx_io {

struct ImportOptions {
  /// Sizes for graph inputs whose dimensions the file leaves symbolic or unknown.
  std::map<std::string, Shape> input_shapes;
  /// Initializers kept out of the gradients (parameters that do not require grad).
  std::vector<std::string> freeze;
  /// Graph inputs given values at import: they become constants of the model (the
  /// backend tests bind their integer inputs, which often are shapes and indices).
  std::map<std::string, Tensor> constant_inputs;
  /// Compute in float64: float32 initializers, inputs, constants and casts become
  /// float64 (the finite-difference gradient checks).
  bool float64 = false;
  /// The size an input's open first dim is traced at when `input_shapes` does not give
  /// the input (train --onnx takes its --batch); other open dims need input_shapes.
  std::optional<int64_t> batch;
};

/// A graph input or output: its name, element type and sizes.
struct ValueInfo {
  std::string name;
  DType dtype = DType::Float32;
  /// The sizes a call is traced with: the file's, or --input-shape's where the file
  /// leaves a dim open.
  Shape shape;
  /// Per dim, the file's name for a size it leaves open (`dim_param`, e.g.
  /// "batch_size"), "?" for an open dim without a name, "" where the file fixes the
  /// size. Open dims take any size when the model runs, and can be symbols in an
  /// exported graph (dims_named, docs/ONNX.md "Symbolic dimensions").
  std::vector<std::string> dim_params;
  bool is_open(size_t dim) const { return dim < dim_params.size() && !dim_params[dim].empty(); }
};

struct Model;  // the parsed file (src/onnx/model.h)

class OnnxModule : public nn::Module {
 public:
  OnnxModule(std::shared_ptr<const Model> model, const ImportOptions& options);
  ~OnnxModule() override;

  /// Positional arguments are the graph inputs in order; keywords name inputs.
  /// One output returns a tensor, several a tuple.
  pytree::Value forward(const nn::Args& args, const nn::Kwargs& kwargs) override;

  /// The graph inputs a call takes (inputs bound by ImportOptions::constant_inputs
  /// and inputs that are initializers excluded), and the graph outputs.
  const std::vector<ValueInfo>& inputs() const { return inputs_; }
  const std::vector<ValueInfo>& outputs() const { return outputs_; }
  const Model& model() const { return *model_; }
  /// The open dims the file names `dim_param` (see ValueInfo::dim_params), as
  /// (input, dim) pairs: what `--dynamic NAME` marks symbolic in an export.
  std::vector<std::pair<int64_t, int64_t>> dims_named(const std::string& dim_param) const;
  /// Every name the file gives an open dim of an input, sorted.
  std::vector<std::string> dim_param_names() const;
  const std::string& path() const;

 private:
  struct Impl;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Impl> impl_;
  std::vector<ValueInfo> inputs_, outputs_;
};

/// Reads and checks an ONNX file and imports it. Every problem is a user error naming
/// the file: not ONNX, truncated, failing ONNX's checker, an opset outside the
/// supported range, unsupported op types (all of them, with node names, at once),
/// unsupported attributes, missing external data, unknown input sizes.
std::shared_ptr<OnnxModule> load(const std::string& path, const ImportOptions& options = {});
/// The same from the file's bytes; external data is looked up in `base_dir`.
std::shared_ptr<OnnxModule> load_from_bytes(std::string_view bytes, const std::string& name,
                                            const std::string& base_dir, const ImportOptions& options = {});

/// Writes the model back with the module's current parameters and buffers (trained
/// weights, running statistics), atomically: a failure leaves `path` as it was.
void save(const OnnxModule& module, const std::string& path);

/// A model recipe for the tools (`--onnx FILE`): build() imports the file,
/// example() gives seeded random inputs of the graph inputs' sizes (integer inputs
/// drawn from [0, 2)).
models::ModelInfo model_info(const std::string& path, const ImportOptions& options = {});

/// The ONNX op types the importer supports, sorted, and the opset range it reads.
std::vector<std::string> supported_op_types();
inline constexpr int64_t kMinOpset = 1;
inline constexpr int64_t kMaxOpset = 17;

}  // namespace aotgrad::onnx_io
