// Shared helpers for the built-in model definitions.
#pragma once

#include <limits>
#include <memory>

#include "aotgrad/models.h"
#include "aotgrad/nn.h"
#include "aotgrad/ops.h"
#include "aotgrad/random.h"

namespace aotgrad::models {

/// Python's open slice end (x[1:]), as ATen records it.
inline constexpr int64_t kSliceEnd = std::numeric_limits<int64_t>::max();

/// A module whose forward takes only positional tensors, checked by count and name.
class TensorModule : public nn::Module {
 public:
  TensorModule(std::string type_name, std::vector<std::string> arg_names)
      : Module(std::move(type_name)), arg_names_(std::move(arg_names)) {}
  virtual pytree::Value run(const TensorList& x) = 0;
  pytree::Value forward(const nn::Args& args, const nn::Kwargs& kwargs) override {
    std::string names;
    for (const auto& n : arg_names_) names += (names.empty() ? "" : ", ") + n;
    nn::expect_args(type_name(), args, kwargs, arg_names_.size(), names.c_str());
    TensorList xs;
    for (size_t i = 0; i < args.size(); ++i) xs.push_back(nn::tensor_arg(type_name(), args, i, arg_names_[i].c_str()));
    return run(xs);
  }
  std::vector<std::string> input_names() const override { return arg_names_; }

 private:
  std::vector<std::string> arg_names_;
};

inline pytree::Value tuple_of(const TensorList& ts) {
  pytree::List items(ts.begin(), ts.end());
  return pytree::Value::tuple(std::move(items));
}

inline Example tensors_example(const TensorList& ts) {
  Example e;
  e.args.assign(ts.begin(), ts.end());
  return e;
}

}  // namespace aotgrad::models
