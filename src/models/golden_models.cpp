// The modules of the golden cases (tests/goldens/*.json), one class per case,
// written as the case's Python `source` writes them, op for op, so that eager
// results and traced graphs line up with what PyTorch recorded.
#include <cmath>

#include <algorithm>

#include "aotgrad/annotate.h"
#include "model_util.h"
#include "support/error.h"

namespace aotgrad::models {

namespace {
using nn::Linear;
using std::make_shared;

class SimpleLinear : public TensorModule {
 public:
  SimpleLinear() : TensorModule("SimpleLinear", {"x"}) {
    linear = register_module("linear", make_shared<Linear>(3, 2));
  }
  pytree::Value run(const TensorList& x) override { return (*linear)(x[0]); }
  std::shared_ptr<Linear> linear;
};

/// A Linear(3, 2) inside annotate({"pp_stage": 0}), optionally squared (y * y, plainly
/// or through annotate_fn({"pp_stage": 1})), then y - 1: annotated_linear,
/// annotated_square and annotated_function.
class StagedLinear : public TensorModule {
 public:
  enum class Square { No, Plain, ThroughAnnotateFn };
  StagedLinear(const char* type_name, Square square) : TensorModule(type_name, {"x"}), square_(square) {
    linear = register_module("linear", make_shared<Linear>(3, 2));
  }
  pytree::Value run(const TensorList& x) override {
    Tensor y;
    {
      annotate stage({{"pp_stage", 0}});
      y = (*linear)(x[0]);
    }
    if (square_ == Square::Plain) y = y * y;
    if (square_ == Square::ThroughAnnotateFn) {
      auto square = annotate_fn({{"pp_stage", int64_t{1}}}, [](const Tensor& t) { return t * t; });
      y = square(y);
    }
    return y - 1;
  }
  std::shared_ptr<Linear> linear;

 private:
  Square square_;
};

class ModuleWithKwargs : public nn::Module {
 public:
  ModuleWithKwargs() : Module("ModuleWithKwargs") { linear = register_module("linear", make_shared<Linear>(3, 2)); }
  pytree::Value forward(const nn::Args& args, const nn::Kwargs& kwargs) override {
    AG_CHECK(args.size() == 1, "ModuleWithKwargs.forward: expected 1 positional argument (x), got {}", args.size());
    AG_CHECK(kwargs.size() == 1 && kwargs[0].first == "scale",
             "ModuleWithKwargs.forward: expected exactly the keyword argument 'scale'");
    const Tensor& x = nn::tensor_arg(type_name(), args, 0, "x");
    const pytree::Value& scale = kwargs[0].second;
    AG_CHECK(scale.is_leaf() && scale.leaf().is_tensor(),
             "ModuleWithKwargs.forward: keyword argument 'scale' must be a tensor");
    return (*linear)(x)*scale.tensor();
  }
  std::shared_ptr<Linear> linear;
};

class MultiOutput : public TensorModule {
 public:
  MultiOutput() : TensorModule("MultiOutput", {"x"}) {
    linear1 = register_module("linear1", make_shared<Linear>(3, 2));
    linear2 = register_module("linear2", make_shared<Linear>(3, 4));
  }
  pytree::Value run(const TensorList& x) override {
    Tensor out1 = (*linear1)(x[0]);
    Tensor out2 = (*linear2)(x[0]);
    return tuple_of({out1, out2});
  }
  std::shared_ptr<Linear> linear1, linear2;
};

class TwoLinearSub : public TensorModule {
 public:
  TwoLinearSub() : TensorModule("TwoLinearSub", {"x"}) {
    linear = register_module("linear", make_shared<Linear>(3, 2));
    linear2 = register_module("linear2", make_shared<Linear>(3, 2));
  }
  pytree::Value run(const TensorList& x) override {
    annotate region({{"test", 1}});
    Tensor a = (*linear)(x[0]);  // one statement each: Python evaluates left to right
    Tensor b = (*linear2)(x[0]);
    return a - b;
  }
  std::shared_ptr<Linear> linear, linear2;
};

class MlpReluCE : public TensorModule {
 public:
  MlpReluCE() : TensorModule("MlpReluCE", {"x", "labels"}) {
    fc1 = register_module("fc1", make_shared<Linear>(8, 16));
    fc2 = register_module("fc2", make_shared<Linear>(16, 4));
  }
  pytree::Value run(const TensorList& x) override {
    Tensor logits = (*fc2)(relu((*fc1)(x[0])));
    return cross_entropy(logits, x[1]);
  }
  std::shared_ptr<Linear> fc1, fc2;
};

class OpsElementwise : public TensorModule {
 public:
  OpsElementwise() : TensorModule("OpsElementwise", {"x", "y"}) {}
  pytree::Value run(const TensorList& in) override {
    const Tensor &x = in[0], &y = in[1];
    // C++ leaves the order of function arguments open; Python evaluates the list left
    // to right, so the ops are pushed one by one in that order.
    TensorList outs;
    outs.push_back(sin(x));
    outs.push_back(cos(x));
    outs.push_back(exp(x));
    outs.push_back(log(abs(x) + 1));
    outs.push_back(tanh(x));
    outs.push_back(sigmoid(x));
    outs.push_back(gelu(x));
    outs.push_back(sqrt(abs(x) + 1));
    outs.push_back(pow(x, 3));
    outs.push_back(div(x, abs(y) + 0.5));
    outs.push_back(neg(x));
    outs.push_back(abs(x));
    outs.push_back(clamp(x, -0.5, 0.5));
    Tensor positive = gt(x, 0);
    outs.push_back(where(positive, x, 0.1 * x));
    return stack(outs, 0);
  }
};

class OpsReductionShape : public TensorModule {
 public:
  OpsReductionShape() : TensorModule("OpsReductionShape", {"a", "b"}) {}
  pytree::Value run(const TensorList& in) override {
    const Tensor &a = in[0], &b = in[1];
    Tensor s = sum(a, {2}, true);
    Tensor m = mean(a, {0, 2});
    Tensor v = var(a, IntList{1}, 1);
    Tensor mx = amax(a, {-1});
    Tensor sm = softmax(a, -1);
    Tensor lsm = log_softmax(a, 1);
    Tensor e = expand(unsqueeze(b, 0), {2, 3, 4});
    Tensor st = stack({sm, lsm, e}, 0);
    Tensor p = permute(a, {2, 0, 1});
    Tensor out1 = sum(st, {0}) * e;  // one op per statement: Python's evaluation order
    out1 = out1 + permute(p, {1, 2, 0});
    out1 = out1 - unsqueeze(squeeze(s, -1), -1);
    out1 = out1 + view(m, {1, 3, 1});
    Tensor c = cat({reshape(a, {6, 4}), b}, 0);
    TensorList c01 = split_with_sizes(c, {4, 5}, 0);
    Tensor t = transpose(b, 0, 1);
    Tensor out2 = matmul(c01[0], t);
    // c1.mean(0, keepdim=True)[:, :3]
    Tensor tail = slice(slice(mean(c01[1], {0}, true), 0, 0, kSliceEnd), 1, 0, 3);
    out2 = out2 + tail;
    TensorList k = chunk(view(a, {2, 12}), 3, 1);
    Tensor out3 = cat({k[0] * k[2] + v, k[1]}, 1);
    Tensor nw = narrow(a, 2, 1, 2);
    // a[:, ::2, 1::2]
    Tensor sl = slice(slice(slice(a, 0, 0, kSliceEnd), 1, 0, kSliceEnd, 2), 2, 1, kSliceEnd, 2);
    Tensor nw2 = slice(slice(nw, 0, 0, kSliceEnd), 1, 0, 2);
    Tensor out4 = sum(nw2 * sl, {1, 2});
    out4 = out4 + mean(mx, {1});
    return tuple_of({out1, out2, out3, out4});
  }
};

class ConvBN : public TensorModule {
 public:
  ConvBN() : TensorModule("ConvBN", {"x"}) {
    conv = register_module("conv", make_shared<nn::Conv2d>(1, 3, 3, nn::Conv2d::Options{.padding = {1, 1}}));
    bn = register_module("bn", make_shared<nn::BatchNorm2d>(3));
  }
  pytree::Value run(const TensorList& x) override { return relu((*bn)((*conv)(x[0]))); }
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::BatchNorm2d> bn;
};

class BatchNormEval : public TensorModule {
 public:
  BatchNormEval() : TensorModule("BatchNormEval", {"x"}) {
    bn = register_module("bn", make_shared<nn::BatchNorm2d>(3));
  }
  pytree::Value run(const TensorList& x) override { return relu((*bn)(x[0])); }
  std::shared_ptr<nn::BatchNorm2d> bn;
};

class LayerNormGelu : public TensorModule {
 public:
  LayerNormGelu() : TensorModule("LayerNormGelu", {"x"}) {
    norm = register_module("norm", make_shared<nn::LayerNorm>(IntList{16}));
    fc1 = register_module("fc1", make_shared<Linear>(16, 32));
    act = register_module("act", make_shared<nn::GELU>());
    fc2 = register_module("fc2", make_shared<Linear>(32, 16));
  }
  pytree::Value run(const TensorList& x) override { return (*fc2)((*act)((*fc1)((*norm)(x[0])))); }
  std::shared_ptr<nn::LayerNorm> norm;
  std::shared_ptr<Linear> fc1, fc2;
  std::shared_ptr<nn::GELU> act;
};

class AttentionCausal : public TensorModule {
 public:
  AttentionCausal() : TensorModule("AttentionCausal", {"x"}) {
    q = register_module("q", make_shared<Linear>(16, 16));
    k = register_module("k", make_shared<Linear>(16, 16));
    v = register_module("v", make_shared<Linear>(16, 16));
    out = register_module("out", make_shared<Linear>(16, 16));
  }
  pytree::Value run(const TensorList& in) override {
    const Tensor& x = in[0];
    const int64_t T = x.size(1);
    Tensor qx = (*q)(x), kx = (*k)(x), vx = (*v)(x);
    Tensor scores = matmul(qx, transpose(kx, -2, -1)) / 4.0;
    Tensor mask = triu(ones({T, T}, DType::Bool), 1);
    scores = masked_fill(scores, mask, -INFINITY);
    Tensor attn = softmax(scores, -1);
    return (*out)(matmul(attn, vx));
  }
  std::shared_ptr<Linear> q, k, v, out;
};

class ConvVariants : public TensorModule {
 public:
  ConvVariants() : TensorModule("ConvVariants", {"x"}) {
    using Opt = nn::Conv2d::Options;
    conv_s2 = register_module("conv_s2", make_shared<nn::Conv2d>(4, 4, 3, Opt{.stride = {2, 2}, .padding = {1, 1}}));
    conv_d2 = register_module("conv_d2", make_shared<nn::Conv2d>(4, 4, 3, Opt{.padding = {2, 2}, .dilation = {2, 2}}));
    conv_g2 = register_module("conv_g2", make_shared<nn::Conv2d>(4, 4, 3, Opt{.padding = {1, 1}, .groups = 2}));
    maxpool = register_module("maxpool", make_shared<nn::MaxPool2d>(2));
    avgpool = register_module("avgpool", make_shared<nn::AvgPool2d>(2));
    gap = register_module("gap", make_shared<nn::AdaptiveAvgPool2d>(IntList{1}));
  }
  pytree::Value run(const TensorList& in) override {
    Tensor a = (*conv_s2)(in[0]);
    Tensor b = (*conv_d2)(in[0]);
    Tensor c = (*conv_g2)(b);
    Tensor d = (*maxpool)(c);
    Tensor e = (*avgpool)(b);
    Tensor f = a + d + e;
    return flatten((*gap)(f), 1);
  }
  std::shared_ptr<nn::Conv2d> conv_s2, conv_d2, conv_g2;
  std::shared_ptr<nn::MaxPool2d> maxpool;
  std::shared_ptr<nn::AvgPool2d> avgpool;
  std::shared_ptr<nn::AdaptiveAvgPool2d> gap;
};

class EmbeddingMeanLinear : public TensorModule {
 public:
  EmbeddingMeanLinear() : TensorModule("EmbeddingMeanLinear", {"idx"}) {
    emb = register_module("emb", make_shared<nn::Embedding>(20, 8));
    fc = register_module("fc", make_shared<Linear>(8, 3));
  }
  pytree::Value run(const TensorList& x) override { return (*fc)(mean((*emb)(x[0]), {1})); }
  std::shared_ptr<nn::Embedding> emb;
  std::shared_ptr<Linear> fc;
};

class IndexPutUnpermute : public TensorModule {
 public:
  IndexPutUnpermute() : TensorModule("IndexPutUnpermute", {"x"}) {
    // A plain attribute, neither parameter nor buffer: it becomes a graph constant.
    permuted_indices = Tensor::from_vector<int64_t>({2, 0, 3, 1}, {4});
  }
  pytree::Value run(const TensorList& in) override {
    const Tensor& x = in[0];
    Tensor out_unpermuted = new_zeros(x, {5, 3});
    // out_unpermuted[self.permuted_indices, :] = x  (PyTorch 2 skips the full `:` slice)
    index_put_(out_unpermuted, {permuted_indices}, x);
    Tensor out = slice(out_unpermuted, 0, 0, -1);
    return cos(out);
  }
  Tensor permuted_indices;
};

/// PyTorch's test_preserve_annotate_replay_view model: torchtitan's MoE `_unpermute`
/// (new_empty, a write through indexing, then a view of the written tensor) inside
/// annotate({'pp_stage': 0}), then cos outside it.
class AnnotatedUnpermute : public TensorModule {
 public:
  AnnotatedUnpermute() : TensorModule("Module", {"x"}) {
    permuted_indices = Tensor::from_vector<int64_t>({2, 0, 3, 1}, {4});
  }
  pytree::Value run(const TensorList& in) override {
    Tensor routed_output;
    {
      annotate scope({{"pp_stage", int64_t{0}}});
      routed_output = unpermute(in[0], {5, 3}, permuted_indices);
    }
    return cos(routed_output);
  }
  Tensor permuted_indices;

 private:
  static Tensor unpermute(const Tensor& out, const IntList& input_shape, const Tensor& indices) {
    Tensor out_unpermuted = new_empty(out, input_shape);
    index_put_(out_unpermuted, {indices}, out);  // out_unpermuted[permuted_indices, :] = out
    return slice(out_unpermuted, 0, 0, -1);      // out = out_unpermuted[:-1]
  }
};

/// Mutates its input in place: the export must return x's new value.
class InplaceInput : public TensorModule {
 public:
  InplaceInput() : TensorModule("InplaceInput", {"x"}) {}
  pytree::Value run(const TensorList& x) override {
    add_(x[0], 1);
    return x[0] * 2;
  }
};

Example randn_example(std::vector<Shape> shapes, std::vector<bool> requires_grad = {}) {
  Example e;
  for (size_t i = 0; i < shapes.size(); ++i) {
    Tensor t = randn(shapes[i]);
    if (i < requires_grad.size() && requires_grad[i]) t.set_requires_grad(true);
    e.args.emplace_back(t);
  }
  return e;
}

template <typename M>
std::function<std::shared_ptr<nn::Module>()> make() {
  return [] { return std::make_shared<M>(); };
}
}  // namespace

// Models of PyTorch's own tests that no golden case covers (Kind::Demo).
static void add_demo_models_of_upstream_tests(std::vector<ModelInfo>& out) {
  auto add = [&](std::string name, std::string desc, auto build, std::function<Example()> ex) {
    out.push_back({std::move(name), std::move(desc), Kind::Demo, true, build, std::move(ex)});
  };
  add("unpermute",
      "torchtitan's MoE unpermute in annotate({'pp_stage': 0}): new_empty, a write through indexing, a view of the "
      "written tensor; then cos",
      make<AnnotatedUnpermute>(), [] {
        return randn_example({{4, 3}}, {true});
      });
  add("inplace_input", "x.add_(1) on the user's input, then x * 2: a mutated user input", make<InplaceInput>(), [] {
    return randn_example({{3, 4}});
  });
}

void add_golden_models(std::vector<ModelInfo>& out) {
  auto add = [&](std::string name, std::string desc, auto build, std::function<Example()> ex, bool train = true) {
    out.push_back({std::move(name), std::move(desc), Kind::Golden, train, build, std::move(ex)});
  };
  add("simple_linear", "Linear(3, 2) on x [4, 3]", make<SimpleLinear>(), [] { return randn_example({{4, 3}}); });
  add(
      "annotated_square", "Linear(3, 2), then y * y - 1, on x [4, 3]",
      [] { return make_shared<StagedLinear>("AnnotatedSquare", StagedLinear::Square::Plain); },
      [] {
        return randn_example({{4, 3}});
      });
  add("module_with_kwargs", "Linear(3, 2)(x) * scale, scale a keyword argument", make<ModuleWithKwargs>(), [] {
    Example e = randn_example({{4, 3}});
    e.kwargs.emplace_back("scale", Tensor::scalar<float>(2.0f));
    return e;
  });
  add("multi_output", "(Linear(3, 2)(x), Linear(3, 4)(x)): two outputs", make<MultiOutput>(), [] {
    return randn_example({{4, 3}});
  });
  add("two_linear_sub", "Linear(3, 2)(x) - Linear(3, 2)(x), x requires grad", make<TwoLinearSub>(), [] {
    return randn_example({{4, 3}}, {true});
  });
  add("mlp_relu_ce", "Linear(8, 16) -> ReLU -> Linear(16, 4) -> cross-entropy with labels", make<MlpReluCE>(), [] {
    Example e = randn_example({{6, 8}});
    e.args.emplace_back(randint(0, 4, {6}));
    return e;
  });
  add("ops_elementwise", "14 elementwise ops of x, y [3, 5] stacked", make<OpsElementwise>(), [] {
    return randn_example({{3, 5}, {3, 5}}, {true, true});
  });
  add("ops_reduction_shape", "reductions, softmax, views, cat/split/chunk of a [2, 3, 4], b [3, 4]",
      make<OpsReductionShape>(), [] {
        return randn_example({{2, 3, 4}, {3, 4}}, {true, true});
      });
  add("conv_bn", "Conv2d(1, 3, 3, padding 1) -> BatchNorm2d(3) (train) -> ReLU", make<ConvBN>(), [] {
    return randn_example({{2, 1, 4, 4}});
  });
  add(
      "batchnorm_eval", "BatchNorm2d(3) in eval mode -> ReLU, x requires grad", make<BatchNormEval>(),
      [] {
        return randn_example({{2, 3, 4, 4}}, {true});
      },
      false);
  add("layernorm_gelu", "LayerNorm(16) -> Linear(16, 32) -> GELU -> Linear(32, 16)", make<LayerNormGelu>(), [] {
    return randn_example({{2, 5, 16}});
  });
  add("attention_causal", "single-head causal self-attention, d 16, on x [2, 6, 16]", make<AttentionCausal>(), [] {
    return randn_example({{2, 6, 16}});
  });
  add("conv_variants", "strided, dilated and grouped Conv2d, max/avg/adaptive pooling", make<ConvVariants>(), [] {
    return randn_example({{2, 4, 8, 8}}, {true});
  });
  add("embedding_bag", "Embedding(20, 8) -> mean over the sequence -> Linear(8, 3)", make<EmbeddingMeanLinear>(), [] {
    return tensors_example({randint(0, 20, {2, 5})});
  });
  add("index_put_unpermute", "new_zeros, index_put_ with a constant index, slice, cos", make<IndexPutUnpermute>(), [] {
    return randn_example({{4, 3}}, {true});
  });
  add(
      "annotated_linear", "Linear(3, 2) inside annotate({'pp_stage': 0}), then y - 1",
      [] { return make_shared<StagedLinear>("AnnotatedLinear", StagedLinear::Square::No); },
      [] {
        return randn_example({{4, 3}});
      });
  out.back().kind = Kind::Demo;
  add(
      "annotated_function", "annotated_linear, then y * y through annotate_fn({'pp_stage': 1}), then y - 1",
      [] { return make_shared<StagedLinear>("AnnotatedFunction", StagedLinear::Square::ThroughAnnotateFn); },
      [] {
        return randn_example({{4, 3}});
      });
  out.back().kind = Kind::Demo;
  add_demo_models_of_upstream_tests(out);
}

}  // namespace aotgrad::models
