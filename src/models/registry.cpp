#include "model_util.h"
#include "support/error.h"

namespace aotgrad::models {

const std::vector<ModelInfo>& all_models() {
  static const std::vector<ModelInfo> models = [] {
    std::vector<ModelInfo> out;
    add_golden_models(out);
    add_benchmark_models(out);
    add_demo_models(out);
    add_hop_models(out);
    return out;
  }();
  return models;
}

const ModelInfo& find_model(const std::string& name) {
  std::string known;
  for (const ModelInfo& m : all_models()) {
    if (m.name == name) return m;
    known += (known.empty() ? "" : ", ") + m.name;
  }
  AG_FAIL("unknown model '{}' (built-in models: {}; `aotgrad models` describes them)", name, known);
}

Instance instantiate(const ModelInfo& info, uint64_t seed) {
  manual_seed(seed);
  Instance inst;
  inst.module = info.build();
  inst.module->train(info.train_mode);
  inst.example = info.example();
  return inst;
}

}  // namespace aotgrad::models
