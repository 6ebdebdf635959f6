// The four benchmark models of BENCHMARKS.md (their forward returns the training
// loss, so a training step is: loss = model(inputs…, target); backward; SGD) and the
// two digits models of the training demo.
#include <cmath>

#include "model_util.h"

namespace aotgrad::models {

namespace {
using nn::Linear;
using std::make_shared;

std::shared_ptr<nn::Sequential> mlp(int64_t in, int64_t hidden, int64_t out) {
  return make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::UnaryModule>>{
      make_shared<Linear>(in, hidden), make_shared<nn::ReLU>(), make_shared<Linear>(hidden, hidden),
      make_shared<nn::ReLU>(), make_shared<Linear>(hidden, out)});
}

/// An MLP classifier trained with cross-entropy: forward(x, labels) -> loss.
class MlpClassifier : public TensorModule {
 public:
  MlpClassifier(int64_t in, int64_t hidden) : TensorModule("MlpClassifier", {"x", "labels"}) {
    net = register_module("net", mlp(in, hidden, 10));
  }
  pytree::Value run(const TensorList& x) override { return cross_entropy((*net)(x[0]), x[1]); }
  std::shared_ptr<nn::Sequential> net;
};

std::shared_ptr<nn::Sequential> conv_bn_relu(int64_t in, int64_t out) {
  return make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::UnaryModule>>{
      make_shared<nn::Conv2d>(in, out, 3, nn::Conv2d::Options{.padding = {1, 1}}), make_shared<nn::BatchNorm2d>(out),
      make_shared<nn::ReLU>()});
}

class ConvNet : public TensorModule {
 public:
  ConvNet() : TensorModule("ConvNet", {"x", "labels"}) {
    block1 = register_module("block1", conv_bn_relu(3, 32));
    block2 = register_module("block2", conv_bn_relu(32, 32));
    pool = register_module("pool", make_shared<nn::MaxPool2d>(2));
    block3 = register_module("block3", conv_bn_relu(32, 64));
    fc = register_module("fc", make_shared<Linear>(64, 10));
  }
  pytree::Value run(const TensorList& x) override {
    Tensor h = (*block3)((*pool)((*block2)((*block1)(x[0]))));
    return cross_entropy((*fc)(mean(h, {2, 3})), x[1]);
  }
  std::shared_ptr<nn::Sequential> block1, block2, block3;
  std::shared_ptr<nn::MaxPool2d> pool;
  std::shared_ptr<Linear> fc;
};

/// Causal multi-head self-attention written out, as BENCHMARKS.md describes.
class CausalSelfAttention : public nn::UnaryModule {
 public:
  CausalSelfAttention(int64_t d_model, int64_t heads, int64_t max_seq)
      : UnaryModule("CausalSelfAttention"), heads_(heads), head_dim_(d_model / heads) {
    q = register_module("q", make_shared<Linear>(d_model, d_model));
    k = register_module("k", make_shared<Linear>(d_model, d_model));
    v = register_module("v", make_shared<Linear>(d_model, d_model));
    out = register_module("out", make_shared<Linear>(d_model, d_model));
    mask = triu(ones({max_seq, max_seq}, DType::Bool), 1);
    register_buffer("mask", mask);
  }
  Tensor apply(const Tensor& x) override {
    // Sizes as SymInts: an export with dynamic batch or sequence keeps them symbolic.
    const SymInt B = x.sym_size(0), T = x.sym_size(1), D = x.sym_size(2);
    auto heads = [&](const Tensor& t) {  // [B, T, D] -> [B, H, T, hd]
      return transpose(view(t, {B, T, heads_, head_dim_}), 1, 2);
    };
    Tensor qh = heads((*q)(x)), kh = heads((*k)(x)), vh = heads((*v)(x));
    Tensor scores = matmul(qh, transpose(kh, -2, -1)) * (1.0 / std::sqrt(double(head_dim_)));
    Tensor causal = slice(slice(mask, 0, 0, T), 1, 0, T);
    Tensor attn = softmax(masked_fill(scores, causal, -INFINITY), -1);
    Tensor merged = reshape(transpose(matmul(attn, vh), 1, 2), {B, T, D});
    return (*out)(merged);
  }
  std::shared_ptr<Linear> q, k, v, out;
  Tensor mask;

 private:
  int64_t heads_, head_dim_;
};

class TransformerBlock : public TensorModule {
 public:
  TransformerBlock() : TensorModule("TransformerBlock", {"x", "target"}) {
    ln1 = register_module("ln1", make_shared<nn::LayerNorm>(IntList{128}));
    attn = register_module("attn", make_shared<CausalSelfAttention>(128, 4, 64));
    ln2 = register_module("ln2", make_shared<nn::LayerNorm>(IntList{128}));
    mlp = register_module("mlp",
                          make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::UnaryModule>>{
                              make_shared<Linear>(128, 512), make_shared<nn::GELU>(), make_shared<Linear>(512, 128)}));
  }
  pytree::Value run(const TensorList& x) override {
    Tensor h = x[0] + (*attn)((*ln1)(x[0]));
    Tensor y = h + (*mlp)((*ln2)(h));
    return mse_loss(y, x[1]);
  }
  std::shared_ptr<nn::LayerNorm> ln1, ln2;
  std::shared_ptr<CausalSelfAttention> attn;
  std::shared_ptr<nn::Sequential> mlp;
};

/// digits_mlp: 64 -> 128 -> ReLU -> 10 logits.
class DigitsMlp : public TensorModule {
 public:
  DigitsMlp() : TensorModule("DigitsMlp", {"x"}) {
    fc1 = register_module("fc1", make_shared<Linear>(64, 128));
    fc2 = register_module("fc2", make_shared<Linear>(128, 10));
  }
  pytree::Value run(const TensorList& x) override { return (*fc2)(relu((*fc1)(x[0]))); }
  std::shared_ptr<Linear> fc1, fc2;
};

/// digits_cnn: the 8x8 image through two conv-BN-ReLU blocks, a 2x2 max pool and a
/// linear classifier. Takes the flat [N, 64] rows like digits_mlp.
class DigitsCnn : public TensorModule {
 public:
  DigitsCnn() : TensorModule("DigitsCnn", {"x"}) {
    block1 = register_module("block1", conv_bn_relu(1, 16));
    block2 = register_module("block2", conv_bn_relu(16, 32));
    pool = register_module("pool", make_shared<nn::MaxPool2d>(2));
    fc = register_module("fc", make_shared<Linear>(32 * 4 * 4, 10));
  }
  pytree::Value run(const TensorList& x) override {
    Tensor img = view(x[0], {x[0].sym_size(0), 1, 8, 8});
    Tensor h = (*pool)((*block2)((*block1)(img)));
    return (*fc)(flatten(h, 1));
  }
  std::shared_ptr<nn::Sequential> block1, block2;
  std::shared_ptr<nn::MaxPool2d> pool;
  std::shared_ptr<Linear> fc;
};

Example classification_batch(Shape x_shape) {
  const int64_t n = x_shape[0];
  return tensors_example({randn(x_shape), randint(0, 10, {n})});
}
}  // namespace

void add_benchmark_models(std::vector<ModelInfo>& out) {
  out.push_back({"mlp_small", "benchmark: MLP 64-128-128-10 with cross-entropy, batch 64", Kind::Benchmark, true,
                 [] { return make_shared<MlpClassifier>(64, 128); },
                 [] {
                   return classification_batch({64, 64});
                 }});
  out.push_back({"mlp_large", "benchmark: MLP 784-1024-1024-10 with cross-entropy, batch 256", Kind::Benchmark, true,
                 [] { return make_shared<MlpClassifier>(784, 1024); },
                 [] {
                   return classification_batch({256, 784});
                 }});
  out.push_back({"convnet", "benchmark: 3 conv-BN-ReLU blocks, max pool, mean, Linear, batch 32x3x32x32",
                 Kind::Benchmark, true, [] { return make_shared<ConvNet>(); },
                 [] {
                   return classification_batch({32, 3, 32, 32});
                 }});
  out.push_back({"transformer_block",
                 "benchmark: pre-norm causal attention (4 heads of 32) + GELU MLP, MSE, batch 8x64x128",
                 Kind::Benchmark, true, [] { return make_shared<TransformerBlock>(); },
                 [] {
                   return tensors_example({randn({8, 64, 128}), randn({8, 64, 128})});
                 }});
  out.push_back({"digits_mlp", "digits classifier: Linear(64, 128) -> ReLU -> Linear(128, 10)", Kind::Digits, true,
                 [] { return make_shared<DigitsMlp>(); },
                 [] {
                   return tensors_example({rand({64, 64})});
                 }});
  out.push_back({"digits_cnn", "digits classifier: 2 conv-BN-ReLU blocks (16, 32 channels), max pool, Linear(512, 10)",
                 Kind::Digits, true, [] { return make_shared<DigitsCnn>(); },
                 [] {
                   return tensors_example({rand({64, 64})});
                 }});
}

}  // namespace aotgrad::models
