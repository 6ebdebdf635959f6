// The layers of SPEC.md §2, initialised as PyTorch initialises them.
//
// Each layer checks its input's rank and feature size first, so a wrong input names
// the layer and what it expected rather than an op deep inside it.
#include <cmath>

#include "aotgrad/autograd.h"
#include "aotgrad/nn.h"
#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "support/error.h"

namespace aotgrad::nn {

namespace {
// kaiming_uniform_(a=sqrt(5)) and the bias rule of Linear/Conv2d both reduce to
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
Tensor fan_in_uniform(const Shape& sizes, int64_t fan_in) {
  double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  return uniform(sizes, -bound, bound);
}

void expect_rank(const std::string& layer, const Tensor& x, int64_t rank, const char* layout) {
  AG_CHECK(x.dim() == rank, "{}: expected a {}-d input ({}), got {}", layer, rank, layout, x.describe());
}
}  // namespace

Linear::Linear(int64_t in, int64_t out, bool with_bias) : UnaryModule("Linear"), in_features(in), out_features(out) {
  weight = fan_in_uniform({out, in}, in);
  if (with_bias) bias = fan_in_uniform({out}, in);
  register_parameter("weight", weight);
  register_parameter("bias", bias);
}

Tensor Linear::apply(const Tensor& x) {
  AG_CHECK(x.dim() >= 1 && x.size(-1) == in_features,
           "Linear(in_features={}, out_features={}): expected an input whose last dimension is "
           "{}, got {}",
           in_features, out_features, in_features, x.describe());
  return linear(x, weight, bias);
}

Conv2d::Conv2d(int64_t in, int64_t out, int64_t k, Options opts)
    : UnaryModule("Conv2d"), in_channels(in), out_channels(out), options(std::move(opts)) {
  AG_CHECK(options.groups > 0 && in % options.groups == 0 && out % options.groups == 0,
           "Conv2d: in_channels ({}) and out_channels ({}) must be divisible by groups ({})", in, out, options.groups);
  int64_t fan_in = in / options.groups * k * k;
  weight = fan_in_uniform({out, in / options.groups, k, k}, fan_in);
  if (options.bias) bias = fan_in_uniform({out}, fan_in);
  register_parameter("weight", weight);
  register_parameter("bias", bias);
}

Tensor Conv2d::apply(const Tensor& x) {
  expect_rank("Conv2d", x, 4, "N, C, H, W");
  AG_CHECK(x.size(1) == in_channels, "Conv2d(in_channels={}): expected input with {} channels, got {}", in_channels,
           in_channels, x.describe());
  return conv2d(x, weight, bias, options.stride, options.padding, options.dilation, options.groups);
}

BatchNorm2d::BatchNorm2d(int64_t n, double eps_, double momentum_)
    : UnaryModule("BatchNorm2d"), num_features(n), eps(eps_), momentum(momentum_) {
  weight = ones({n});
  bias = zeros({n});
  running_mean = zeros({n});
  running_var = ones({n});
  num_batches_tracked = Tensor::zeros({}, DType::Int64);
  register_parameter("weight", weight);
  register_parameter("bias", bias);
  register_buffer("running_mean", running_mean);
  register_buffer("running_var", running_var);
  register_buffer("num_batches_tracked", num_batches_tracked);
}

Tensor BatchNorm2d::apply(const Tensor& x) {
  expect_rank("BatchNorm2d", x, 4, "N, C, H, W");
  AG_CHECK(x.size(1) == num_features, "BatchNorm2d({}): expected input with {} channels, got {}", num_features,
           num_features, x.describe());
  if (!is_training()) {
    return std::get<0>(_native_batch_norm_legit_no_training(x, weight, bias, running_mean, running_var, momentum, eps));
  }
  // PyTorch counts the batch first, then normalises; the functional kernel returns
  // the new running statistics, which are written back into the buffers here (the
  // in-place update that functionalization later turns into graph outputs).
  {
    autograd::NoGradGuard no_grad;
    add_(num_batches_tracked, 1);
  }
  auto [out, save_mean, save_rstd, new_mean, new_var] =
      _native_batch_norm_legit_functional(x, weight, bias, running_mean, running_var, true, momentum, eps);
  autograd::NoGradGuard no_grad;
  copy_(running_mean, new_mean);
  copy_(running_var, new_var);
  return out;
}

LayerNorm::LayerNorm(IntList shape, double eps_)
    : UnaryModule("LayerNorm"), normalized_shape(std::move(shape)), eps(eps_) {
  weight = ones(normalized_shape);
  bias = zeros(normalized_shape);
  register_parameter("weight", weight);
  register_parameter("bias", bias);
}

Tensor LayerNorm::apply(const Tensor& x) {
  const auto k = static_cast<int64_t>(normalized_shape.size());
  bool ok = x.dim() >= k;
  for (int64_t i = 0; ok && i < k; ++i) ok = x.size(x.dim() - k + i) == normalized_shape[i];
  AG_CHECK(ok, "LayerNorm(normalized_shape={}): expected an input ending in those dimensions, got {}",
           shape_str(normalized_shape), x.describe());
  return std::get<0>(native_layer_norm(x, normalized_shape, weight, bias, eps));
}

Embedding::Embedding(int64_t num, int64_t dim) : UnaryModule("Embedding"), num_embeddings(num), embedding_dim(dim) {
  weight = randn({num, dim});
  register_parameter("weight", weight);
}

Tensor Embedding::apply(const Tensor& indices) {
  AG_CHECK(indices.dtype() == DType::Int64 || indices.dtype() == DType::Int32,
           "Embedding({}, {}): expected integer indices, got {}", num_embeddings, embedding_dim, indices.describe());
  return embedding(weight, indices);
}

Tensor ReLU::apply(const Tensor& x) {
  return relu(x);
}
Tensor GELU::apply(const Tensor& x) {
  return gelu(x, approximate);
}
Tensor Flatten::apply(const Tensor& x) {
  return flatten(x, start_dim, end_dim);
}

MaxPool2d::MaxPool2d(int64_t k, int64_t s, int64_t p)
    : UnaryModule("MaxPool2d"), kernel{k, k}, stride{s ? s : k, s ? s : k}, padding{p, p} {}

Tensor MaxPool2d::apply(const Tensor& x) {
  expect_rank("MaxPool2d", x, 4, "N, C, H, W");
  return std::get<0>(max_pool2d_with_indices(x, kernel, stride, padding));
}

AvgPool2d::AvgPool2d(int64_t k, int64_t s, int64_t p)
    : UnaryModule("AvgPool2d"), kernel{k, k}, stride{s ? s : k, s ? s : k}, padding{p, p} {}

Tensor AvgPool2d::apply(const Tensor& x) {
  expect_rank("AvgPool2d", x, 4, "N, C, H, W");
  return avg_pool2d(x, kernel, stride, padding);
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(IntList size) : UnaryModule("AdaptiveAvgPool2d"), output_size(std::move(size)) {
  if (output_size.size() == 1) output_size.push_back(output_size[0]);
  AG_CHECK(output_size.size() == 2, "AdaptiveAvgPool2d: output_size must have 1 or 2 entries, got {}",
           shape_str(output_size));
}

Tensor AdaptiveAvgPool2d::apply(const Tensor& x) {
  expect_rank("AdaptiveAvgPool2d", x, 4, "N, C, H, W");
  // ATen's adaptive_avg_pool2d lowers a 1x1 output to a mean over H and W.
  if (output_size == IntList{1, 1}) return mean(x, {-1, -2}, true);
  return _adaptive_avg_pool2d(x, output_size);
}

Sequential::Sequential(std::vector<std::shared_ptr<UnaryModule>> layers) : Sequential() {
  for (auto& l : layers) push_back(std::move(l));
}

void Sequential::push_back(std::shared_ptr<UnaryModule> layer) {
  layers_.push_back(register_module(std::to_string(layers_.size()), std::move(layer)));
}

Tensor Sequential::apply(const Tensor& x) {
  Tensor h = x;
  for (auto& layer : layers_) h = layer->apply(h);
  return h;
}

}  // namespace aotgrad::nn
