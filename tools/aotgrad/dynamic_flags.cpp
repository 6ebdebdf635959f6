#include "dynamic_flags.h"

#include <algorithm>

#include "aotgrad/onnx.h"
#include "support/error.h"

namespace aotgrad::cli {

using exporting::DynamicDim;

// The dims an ONNX model's file names `dim_param` (`--dynamic batch_size`).
static std::vector<DynamicDim> dims_named(const nn::Module& module, const std::string& dim_param) {
  const auto* imported = dynamic_cast<const onnx_io::OnnxModule*>(&module);
  AG_CHECK(imported != nullptr, "--dynamic: expected 'batch' or NAME:DIM (e.g. x:1), but got '{}'", dim_param);
  std::vector<DynamicDim> dims;
  for (const auto& [input, dim] : imported->dims_named(dim_param)) dims.push_back(DynamicDim{input, dim});
  const std::vector<std::string> names = imported->dim_param_names();
  AG_CHECK(!dims.empty(), "--dynamic {}: no input dim of {} is named '{}' (its dim_params: {}); or give NAME:DIM",
           dim_param, imported->path(), dim_param,
           names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", ")));
  return dims;
}

std::vector<exporting::DynamicDim> DynamicFlags::resolve(const nn::Module& module, const nn::Args& args,
                                                         const nn::Kwargs& kwargs) const {
  const auto leaves =
      pytree::flatten(pytree::Value::tuple({pytree::Value::tuple(args), pytree::Value::dict(kwargs)})).first;
  const std::vector<std::string> names = module.input_names();
  std::vector<exporting::DynamicDim> dims;
  auto add = [&](int64_t input, int64_t dim) {
    const exporting::DynamicDim d{input, dim};
    if (std::find(dims.begin(), dims.end(), d) == dims.end()) dims.push_back(d);
  };
  for (const std::string& spec : specs) {
    if (spec == "batch") {
      for (size_t i = 0; i < leaves.size(); ++i)  // (a 0-d input has no batch)
        if (leaves[i].is_tensor() && leaves[i].to_tensor().dim() > 0) add(static_cast<int64_t>(i), 0);
      continue;
    }
    const size_t colon = spec.rfind(':');
    if (colon == std::string::npos) {
      for (const DynamicDim& d : dims_named(module, spec)) add(d.input, d.dim);
      continue;
    }
    AG_CHECK(colon > 0 && colon + 1 < spec.size(),
             "--dynamic: expected 'batch', NAME:DIM (e.g. x:1) or an ONNX "
             "dim_param, but got '{}'",
             spec);
    const std::string name = spec.substr(0, colon), dim_text = spec.substr(colon + 1);
    int64_t dim = 0;
    try {
      size_t used = 0;
      dim = std::stoll(dim_text, &used);
      AG_CHECK(used == dim_text.size(), "");
    } catch (...) {
      AG_FAIL("--dynamic {}: the dim must be an integer, but got '{}'", spec, dim_text);
    }
    int64_t input = -1;
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i] == name) input = static_cast<int64_t>(i);
    if (input < 0 && !name.empty() && std::all_of(name.begin(), name.end(), ::isdigit)) input = std::stoll(name);
    std::string known;
    for (const std::string& n : names) known += (known.empty() ? "" : ", ") + n;
    AG_CHECK(input >= 0 && static_cast<size_t>(input) < leaves.size(),
             "--dynamic {}: the model has no input '{}' (its inputs: {})", spec, name,
             known.empty() ? fmt::format("{} numbered from 0", leaves.size()) : known);
    add(input, dim);
  }
  return dims;
}

std::shared_ptr<DynamicFlags> add_dynamic_flags(CLI::App* cmd) {
  auto flags = std::make_shared<DynamicFlags>();
  cmd->add_option("--dynamic", flags->specs,
                  "symbolic sizes: 'batch' (dim 0 of every input), NAME:DIM, or an ONNX file's dim_param name, "
                  "repeatable; the graph then serves "
                  "every size that meets its guards");
  return flags;
}

}  // namespace aotgrad::cli
