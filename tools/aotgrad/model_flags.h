// Choosing the model a command works on: a built-in one (--model NAME) or a user's
// ONNX file (--onnx FILE, with --input-shape and --freeze).
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "aotgrad/models.h"

namespace aotgrad::cli {

struct ModelFlags {
  std::string model, onnx;
  std::vector<std::string> input_shapes;  // NAME=D0,D1,...
  std::vector<std::string> freeze;
  /// --onnx: the size an input's open first dim takes where --input-shape does not
  /// give the input (train sets it to its --batch).
  std::optional<int64_t> batch;
  /// The chosen model's recipe; a user error unless exactly one of --model / --onnx was given.
  models::ModelInfo resolve() const;
  bool given() const { return !model.empty() || !onnx.empty(); }
};

/// Adds --model, --onnx, --input-shape and --freeze to `cmd`.
std::shared_ptr<ModelFlags> add_model_flags(CLI::App* cmd, const std::string& model_help);

}  // namespace aotgrad::cli
