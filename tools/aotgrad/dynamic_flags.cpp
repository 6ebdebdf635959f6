#include "dynamic_flags.h"

#include <algorithm>

#include "support/error.h"

namespace aotgrad::cli {

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
    AG_CHECK(colon != std::string::npos && colon > 0 && colon + 1 < spec.size(),
             "--dynamic: expected 'batch' or NAME:DIM (e.g. x:1), but got '{}'", spec);
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
                  "symbolic sizes: 'batch' (dim 0 of every input) or NAME:DIM, repeatable; the graph then serves "
                  "every size that meets its guards");
  return flags;
}

}  // namespace aotgrad::cli
