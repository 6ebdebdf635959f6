// Models that exercise the higher-order ops (SPEC.md §10).
#include "aotgrad/annotate.h"
#include "aotgrad/hop.h"
#include "model_util.h"

namespace aotgrad::models {

namespace {
Annotations text_annotation(const char* key, const char* value) {
  return {{key, std::string(value)}};
}

// y = x.sin(); return y * 1, annotated mod_name=bar: the body of the nested compile
// region (PyTorch's test_annotate_invoke_subgraph_simple).
class Bar : public TensorModule {
 public:
  Bar() : TensorModule("Bar", {"x"}) {}
  pytree::Value run(const TensorList& in) override {
    annotate scope(text_annotation("mod_name", "bar"));
    Tensor y = sin(in[0]);
    return y * 1;
  }
};

// z = bar(x) (bar a nested compile region) under mod_name=my_mod; returns z - 1.
class InvokeSubgraphModel : public TensorModule {
 public:
  InvokeSubgraphModel()
      : TensorModule("InvokeSubgraphModel", {"x"}),
        bar_(register_module("bar", std::make_shared<Bar>())),
        region_("bar", *bar_) {}
  pytree::Value run(const TensorList& in) override {
    Tensor z;
    {
      annotate scope(text_annotation("mod_name", "my_mod"));
      z = region_({in[0]})[0];
    }
    return z - 1;
  }

 private:
  std::shared_ptr<Bar> bar_;
  NestedCompileRegion region_;
};

// Two documents packed into one sequence: a query sees the keys of its own document
// up to itself (block-causal document masking).
MaskMod document_causal_mask(int64_t seq_len, int64_t documents) {
  std::vector<int32_t> doc(static_cast<size_t>(seq_len));
  for (int64_t i = 0; i < seq_len; ++i) doc[static_cast<size_t>(i)] = static_cast<int32_t>(i * documents / seq_len);
  Tensor document_id = Tensor::from_vector<int32_t>(doc, {seq_len});
  return [document_id](const Tensor&, const Tensor&, const Tensor& q, const Tensor& kv) {
    Tensor q_document = index(document_id, {q});
    Tensor kv_document = index(document_id, {kv});
    Tensor same_document = eq(q_document, kv_document);
    Tensor causal = ge(q, kv);
    return logical_and(same_document, causal);
  };
}

// flex_attention over q, k, v with the document mask and the identity score_mod,
// annotated compile_with_inductor=flex_attention.
class FlexAttentionModel : public TensorModule {
 public:
  explicit FlexAttentionModel(int64_t seq_len)
      : TensorModule("FlexAttentionModel", {"q", "k", "v"}),
        block_mask_(create_block_mask(document_causal_mask(seq_len, 2), 1, 1, seq_len, seq_len)) {}
  pytree::Value run(const TensorList& in) override {
    annotate scope(text_annotation("compile_with_inductor", "flex_attention"));
    return flex_attention(in[0], in[1], in[2], nullptr, block_mask_);
  }

 private:
  BlockMask block_mask_;
};
}  // namespace

MaskMod flex_document_mask(int64_t seq_len, int64_t documents) {
  return document_causal_mask(seq_len, documents);
}

void add_hop_models(std::vector<ModelInfo>& out) {
  out.push_back({"invoke_subgraph",
                 "z = bar(x) in annotate mod_name=my_mod, where bar (x.sin() * 1 in annotate mod_name=bar) is a nested "
                 "compile region; returns z - 1",
                 Kind::Demo, true, [] { return std::make_shared<InvokeSubgraphModel>(); },
                 [] {
                   Tensor x = randn({4, 3});
                   x.set_requires_grad(true);
                   return tensors_example({x});
                 }});
  out.push_back({"flex_attention",
                 "flex_attention(q, k, v) with a block-causal mask over 2 documents and the identity score_mod, "
                 "B 2, H 4, S 288, D 64, in annotate compile_with_inductor=flex_attention",
                 Kind::Demo, true, [] { return std::make_shared<FlexAttentionModel>(288); },
                 [] {
                   TensorList qkv;
                   for (int i = 0; i < 3; ++i) {
                     Tensor t = randn({2, 4, 288, 64});
                     t.set_requires_grad(true);
                     qkv.push_back(t);
                   }
                   return tensors_example(qkv);
                 }});
}

}  // namespace aotgrad::models
