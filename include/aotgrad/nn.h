// Modules: parameters, buffers and submodules under fully-qualified names, and the
// layers the built-in models are made of (SPEC.md §2).
//
// A module owns its tensors as members and registers a pointer to each member under
// a name, in registration order. named_parameters() / named_buffers() walk the tree
// depth first, so names come out as PyTorch prints them ("conv.weight",
// "bn.running_mean"). Export swaps the tensors behind those pointers for graph
// inputs while it traces (a functional call), which is why modules are neither
// copied nor moved. Layers call the same ops as any user code, so eager execution,
// autograd and tracing see identical op sequences.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "aotgrad/ivalue.h"
#include "aotgrad/pytree.h"
#include "aotgrad/tensor.h"

namespace aotgrad::nn {

using Args = std::vector<pytree::Value>;
using Kwargs = pytree::Dict;
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
/// A named slot: the member a parameter or buffer lives in.
using NamedSlots = std::vector<std::pair<std::string, Tensor*>>;

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// The generic call: positional and keyword arguments in, any pytree out.
  virtual pytree::Value forward(const Args& args, const Kwargs& kwargs) = 0;
  /// The names of forward's positional inputs, where the module knows them (what
  /// `--dynamic NAME:DIM` matches); empty otherwise.
  virtual std::vector<std::string> input_names() const { return {}; }
  pytree::Value operator()(const Args& args, const Kwargs& kwargs = {}) { return forward(args, kwargs); }

  /// The class name, as PyTorch's repr prints it ("Linear").
  const std::string& type_name() const { return type_name_; }

  NamedTensors named_parameters() const;
  NamedTensors named_buffers() const;
  /// Where each parameter / buffer lives, for code that swaps them (functional calls).
  NamedSlots parameter_slots();
  NamedSlots buffer_slots();
  std::vector<std::pair<std::string, Module*>> named_children() const;

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  /// Parameters then buffers of each module, depth first (PyTorch's order).
  NamedTensors state_dict() const;
  /// Copies values into the registered tensors. Every name must exist and match in
  /// shape and dtype; with `strict`, every registered tensor must be given.
  void load_state_dict(const NamedTensors& state, bool strict = true);
  /// Sets every parameter's .grad to undefined.
  void zero_grad();

 protected:
  /// Registers `slot` (a member of the derived class) as a parameter; it then
  /// requires grad. An undefined tensor (a Linear without bias) is not registered.
  void register_parameter(std::string name, Tensor& slot);
  void register_buffer(std::string name, Tensor& slot);
  template <typename M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    children_.emplace_back(std::move(name), module);
    return module;
  }

 private:
  void collect(const std::string& prefix, bool params, NamedSlots& out) const;

  std::string type_name_;
  bool training_ = true;
  std::vector<std::pair<std::string, Tensor*>> params_;
  std::vector<std::pair<std::string, Tensor*>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

/// Puts other tensors into module slots (parameter_slots(), buffer_slots()) for a
/// scope and puts the originals back however the scope ends, so a functional call
/// never leaves a module holding someone else's tensors.
class SlotSwap {
 public:
  SlotSwap() = default;
  SlotSwap(const SlotSwap&) = delete;
  SlotSwap& operator=(const SlotSwap&) = delete;
  ~SlotSwap();
  void swap(Tensor* slot, Tensor value);

 private:
  std::vector<std::pair<Tensor*, Tensor>> saved_;
};

/// The positional tensor argument `index` of a generic call, with a clear error
/// naming the module when it is missing or not a tensor.
const Tensor& tensor_arg(const std::string& module, const Args& args, size_t index, const char* name);
/// Fails unless exactly `count` positional arguments and no keywords were passed.
void expect_args(const std::string& module, const Args& args, const Kwargs& kwargs, size_t count, const char* names);

/// A module of one tensor in, one tensor out (every layer below).
class UnaryModule : public Module {
 public:
  using Module::Module;
  virtual Tensor apply(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return apply(x); }
  pytree::Value forward(const Args& args, const Kwargs& kwargs) override;
};

class Linear : public UnaryModule {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor apply(const Tensor& x) override;
  int64_t in_features, out_features;
  Tensor weight, bias;
};

class Conv2d : public UnaryModule {
 public:
  struct Options {
    IntList stride{1, 1}, padding{0, 0}, dilation{1, 1};
    int64_t groups = 1;
    bool bias = true;
  };
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, Options options);
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size)
      : Conv2d(in_channels, out_channels, kernel_size, Options{}) {}
  Tensor apply(const Tensor& x) override;
  int64_t in_channels, out_channels;
  Options options;
  Tensor weight, bias;
};

/// Batch statistics in train mode (and a running-stat update with PyTorch's momentum
/// and unbiased variance, num_batches_tracked += 1); running statistics in eval mode.
class BatchNorm2d : public UnaryModule {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, double momentum = 0.1);
  Tensor apply(const Tensor& x) override;
  int64_t num_features;
  double eps, momentum;
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
};

class LayerNorm : public UnaryModule {
 public:
  explicit LayerNorm(IntList normalized_shape, double eps = 1e-5);
  Tensor apply(const Tensor& x) override;
  IntList normalized_shape;
  double eps;
  Tensor weight, bias;
};

class Embedding : public UnaryModule {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim);
  Tensor apply(const Tensor& indices) override;
  int64_t num_embeddings, embedding_dim;
  Tensor weight;
};

class ReLU : public UnaryModule {
 public:
  ReLU() : UnaryModule("ReLU") {}
  Tensor apply(const Tensor& x) override;
};

class GELU : public UnaryModule {
 public:
  explicit GELU(std::string approximate = "none") : UnaryModule("GELU"), approximate(std::move(approximate)) {}
  Tensor apply(const Tensor& x) override;
  std::string approximate;
};

class MaxPool2d : public UnaryModule {
 public:
  /// stride defaults to the kernel size, as in PyTorch.
  explicit MaxPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0);
  Tensor apply(const Tensor& x) override;
  IntList kernel, stride, padding;
};

class AvgPool2d : public UnaryModule {
 public:
  explicit AvgPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0);
  Tensor apply(const Tensor& x) override;
  IntList kernel, stride, padding;
};

class AdaptiveAvgPool2d : public UnaryModule {
 public:
  explicit AdaptiveAvgPool2d(IntList output_size);
  Tensor apply(const Tensor& x) override;
  IntList output_size;
};

class Flatten : public UnaryModule {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1)
      : UnaryModule("Flatten"), start_dim(start_dim), end_dim(end_dim) {}
  Tensor apply(const Tensor& x) override;
  int64_t start_dim, end_dim;
};

/// Runs its children in order; they are registered as "0", "1", ….
class Sequential : public UnaryModule {
 public:
  Sequential() : UnaryModule("Sequential") {}
  explicit Sequential(std::vector<std::shared_ptr<UnaryModule>> layers);
  void push_back(std::shared_ptr<UnaryModule> layer);
  Tensor apply(const Tensor& x) override;
  size_t size() const { return layers_.size(); }

 private:
  std::vector<std::shared_ptr<UnaryModule>> layers_;
};

}  // namespace aotgrad::nn
