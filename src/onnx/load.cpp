// Loading, checking and saving ONNX files; the model recipe the tools use.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "aotgrad/onnx.h"
#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "aotgrad/trace.h"
#include "onnx/model.h"
#include "support/atomic_file.h"
#include "support/error.h"

namespace aotgrad::onnx_io {

static std::shared_ptr<const Model> read_model_file(const std::string& path) {
  std::error_code ec;
  AG_CHECK(std::filesystem::is_regular_file(path, ec), "{}: no such file (expected an ONNX model)", path);
  std::ifstream in(path, std::ios::binary);
  AG_CHECK(in.good(), "{}: cannot be read", path);
  std::ostringstream buf;
  buf << in.rdbuf();
  const std::string parent = std::filesystem::path(path).parent_path().string();
  return read_model(buf.str(), path, parent.empty() ? "." : parent);
}

// The model traced once on proxies of its inputs, parameters and buffers: every
// node's converter runs, so unsupported attribute values, non-static shapes and
// shape mismatches are reported when the file is loaded, not on first use.
static void check_by_tracing(OnnxModule& module) {
  nn::NamedSlots params = module.parameter_slots(), buffers = module.buffer_slots();
  TensorList examples;
  for (const auto& [name, slot] : params) examples.push_back(*slot);
  for (const auto& [name, slot] : buffers) examples.push_back(*slot);
  for (const ValueInfo& in : module.inputs()) examples.push_back(Tensor::meta(in.shape, in.dtype));
  trace::TraceOptions options;
  options.record_stack_traces = false;
  trace::make_fx(
      [&](const TensorList& proxies) {
        nn::SlotSwap swap;
        size_t i = 0;
        for (const auto& [name, slot] : params) swap.swap(slot, proxies[i++]);
        for (const auto& [name, slot] : buffers) swap.swap(slot, proxies[i++]);
        nn::Args args(proxies.begin() + static_cast<std::ptrdiff_t>(i), proxies.end());
        auto [leaves, spec] = pytree::flatten(module(args));
        TensorList outs;
        for (const IValue& v : leaves) outs.push_back(v.to_tensor());
        return outs;
      },
      examples, options);
}

static std::shared_ptr<OnnxModule> import(std::shared_ptr<const Model> model, const ImportOptions& options) {
  auto module = std::make_shared<OnnxModule>(std::move(model), options);
  check_by_tracing(*module);
  return module;
}

std::shared_ptr<OnnxModule> load(const std::string& path, const ImportOptions& options) {
  return import(read_model_file(path), options);
}

std::shared_ptr<OnnxModule> load_from_bytes(std::string_view bytes, const std::string& name,
                                            const std::string& base_dir, const ImportOptions& options) {
  return import(read_model(bytes, name, base_dir), options);
}

void save(const OnnxModule& module, const std::string& path) {
  std::vector<std::pair<std::string, Tensor>> values;
  for (const auto& [name, t] : module.named_parameters()) values.emplace_back(name, t.detach());
  for (const auto& [name, t] : module.named_buffers()) values.emplace_back(name, t.detach());
  write_file_atomically(path, write_model(module.model(), values));
}

// Seeded example inputs: floats from a normal distribution, integers and bools from {0, 1}.
static nn::Args example_inputs(const std::vector<ValueInfo>& inputs) {
  nn::Args args;
  for (const ValueInfo& in : inputs) {
    if (is_floating(in.dtype)) {
      args.emplace_back(randn(in.shape, in.dtype));
    } else {
      args.emplace_back(to(gt(randn(in.shape), 0), in.dtype));
    }
  }
  return args;
}

models::ModelInfo model_info(const std::string& path, const ImportOptions& options) {
  std::shared_ptr<const Model> model = read_model_file(path);
  std::shared_ptr<OnnxModule> first = import(model, options);  // checked once, here
  models::ModelInfo info;
  info.name = std::filesystem::path(path).stem().string();
  info.description = fmt::format("ONNX file {} (opset {}, {} nodes)", path, model->opset, model->nodes.size());
  info.kind = models::Kind::Imported;
  info.train_mode = true;
  std::vector<ValueInfo> inputs = first->inputs();
  info.build = [model, options, first]() mutable -> std::shared_ptr<nn::Module> {
    // The checked instance serves the first build; later builds import again.
    if (first) return std::exchange(first, nullptr);
    return std::make_shared<OnnxModule>(model, options);
  };
  info.example = [inputs] { return models::Example{example_inputs(inputs), {}}; };
  return info;
}

}  // namespace aotgrad::onnx_io
