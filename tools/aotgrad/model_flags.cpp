#include "model_flags.h"

#include "aotgrad/onnx.h"
#include "support/error.h"

namespace aotgrad::cli {

// "x=8,3,224,224" -> ("x", [8, 3, 224, 224]).
static std::pair<std::string, Shape> parse_input_shape(const std::string& text) {
  const size_t eq = text.rfind('=');
  AG_CHECK(eq != std::string::npos && eq > 0, "--input-shape '{}': expected NAME=D0,D1,... (e.g. input_0=8,3,64,64)",
           text);
  Shape dims;
  std::string rest = text.substr(eq + 1);
  size_t start = 0;
  while (start <= rest.size() && !rest.empty()) {
    size_t comma = rest.find(',', start);
    if (comma == std::string::npos) comma = rest.size();
    const std::string item = rest.substr(start, comma - start);
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (...) {
      used = 0;
    }
    AG_CHECK(used == item.size() && !item.empty() && v >= 0, "--input-shape '{}': '{}' is not a non-negative dimension",
             text, item);
    dims.push_back(v);
    start = comma + 1;
  }
  return {text.substr(0, eq), dims};
}

models::ModelInfo ModelFlags::resolve() const {
  AG_CHECK(model.empty() != onnx.empty(), "give one of --model NAME and --onnx FILE");
  if (!model.empty()) {
    AG_CHECK(input_shapes.empty() && freeze.empty(), "--input-shape and --freeze apply to --onnx models");
    return models::find_model(model);
  }
  onnx_io::ImportOptions options;
  for (const std::string& s : input_shapes) options.input_shapes.insert(parse_input_shape(s));
  options.freeze = freeze;
  options.batch = batch;
  return onnx_io::model_info(onnx, options);
}

std::shared_ptr<ModelFlags> add_model_flags(CLI::App* cmd, const std::string& model_help) {
  auto flags = std::make_shared<ModelFlags>();
  auto* model = cmd->add_option("--model", flags->model, model_help);
  auto* onnx = cmd->add_option("--onnx", flags->onnx, "an ONNX model file, in place of --model");
  model->excludes(onnx);
  cmd->add_option("--input-shape", flags->input_shapes,
                  "--onnx: sizes for an input the file leaves unknown, NAME=D0,D1,... (repeatable)");
  cmd->add_option("--freeze", flags->freeze, "--onnx: initializers to keep out of the gradients")->expected(1, -1);
  return flags;
}

}  // namespace aotgrad::cli
