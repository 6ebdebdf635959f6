// The built-in model registry (SPEC.md §11): every golden case under its case name,
// the four benchmark models, the digits models and the capability demos.
//
// A model is a recipe: build() makes the module with seeded default initialisation,
// example() makes example inputs of the right shapes and dtypes (also seeded), so
// `aotgrad export --model NAME` and the benchmarks are reproducible.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "aotgrad/hop.h"
#include "aotgrad/nn.h"

namespace aotgrad::models {

/// Positional and keyword arguments of one call.
struct Example {
  nn::Args args;
  nn::Kwargs kwargs;
};

enum class Kind {
  Golden,     // the module of a golden case (tests/goldens/NAME.json)
  Benchmark,  // a benchmark model: forward(inputs…, target) returns the training loss
  Digits,     // forward(x [N, 64]) returns logits over 10 classes
  Demo,       // shows a capability
  Imported,   // read from a file (an ONNX model: include/aotgrad/onnx.h); forward returns its outputs
};

struct ModelInfo {
  std::string name;
  std::string description;
  Kind kind = Kind::Golden;
  bool train_mode = true;
  std::function<std::shared_ptr<nn::Module>()> build;
  std::function<Example()> example;
};

/// Every built-in model, in the order `aotgrad models` lists them.
const std::vector<ModelInfo>& all_models();
/// The model called `name`; a user error listing the known names otherwise.
const ModelInfo& find_model(const std::string& name);

/// The flex_attention model's mask: `documents` equal documents packed into one
/// sequence, each query attending causally within its own document.
MaskMod flex_document_mask(int64_t seq_len, int64_t documents);

/// A built model with its example inputs, made with the default generator seeded to
/// `seed` (so two instances are identical), in the model's train/eval mode.
struct Instance {
  std::shared_ptr<nn::Module> module;
  Example example;
};
Instance instantiate(const ModelInfo& info, uint64_t seed = 0);

/// Registration hooks, one per source file of src/models (called by all_models()).
void add_golden_models(std::vector<ModelInfo>& out);
void add_benchmark_models(std::vector<ModelInfo>& out);
void add_demo_models(std::vector<ModelInfo>& out);
void add_hop_models(std::vector<ModelInfo>& out);

}  // namespace aotgrad::models
