// --dynamic batch | NAME:DIM | DIM_PARAM: the dims of a model's inputs that are
// symbols in the exported graph (docs/SYMBOLIC_SHAPES.md).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "aotgrad/export.h"
#include "aotgrad/nn.h"
#include "aotgrad/pytree.h"

namespace aotgrad::cli {

struct DynamicFlags {
  std::vector<std::string> specs;
  bool any() const { return !specs.empty(); }
  /// The dims the specs name for this module's call: `batch` is dim 0 of every input,
  /// `NAME:DIM` one dim of the input called NAME (or numbered NAME, from 0), and for
  /// an ONNX model a name without a colon every dim its file names so (`dim_param`).
  std::vector<exporting::DynamicDim> resolve(const nn::Module& module, const nn::Args& args,
                                             const nn::Kwargs& kwargs) const;
};

std::shared_ptr<DynamicFlags> add_dynamic_flags(CLI::App* cmd);

}  // namespace aotgrad::cli
