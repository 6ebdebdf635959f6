// Models that show a capability rather than reproduce a golden case.
#include <mutex>

#include "aotgrad/custom_op.h"
#include "model_util.h"

namespace aotgrad::models {

namespace {
// my_lib::foo(x, y) = x + y, with backward (g, g): registered once, on first use.
void register_foo() {
  static std::once_flag once;
  std::call_once(once, [] {
    CustomOpDef def;
    def.name = "my_lib::foo";
    def.signature = "(Tensor x, Tensor y) -> Tensor";
    def.cpu = [](const Args& a) { return TensorList{add(a[0].to_tensor(), a[1].to_tensor())}; };
    def.fake = [](const Args& a) {
      const Tensor& x = a[0].to_tensor();
      return TensorList{Tensor::meta(x.sizes(), x.dtype())};
    };
    def.backward = [](const Args&, const TensorList&, const TensorList& grads) {
      return TensorList{grads[0], grads[0]};
    };
    register_custom_op(def);
  });
}

class CustomOpModel : public TensorModule {
 public:
  CustomOpModel() : TensorModule("CustomOpModel", {"x", "y"}) { register_foo(); }
  pytree::Value run(const TensorList& in) override {
    Tensor z = call_custom_op("my_lib::foo", {in[0], in[1]})[0];
    return z * in[0];
  }
};
}  // namespace

void add_demo_models(std::vector<ModelInfo>& out) {
  out.push_back({"custom_op", "my_lib::foo(x, y) = x + y (a custom op with backward (g, g)), times x", Kind::Demo, true,
                 [] { return std::make_shared<CustomOpModel>(); },
                 [] {
                   Tensor x = randn({3, 4}), y = randn({3, 4});
                   x.set_requires_grad(true);
                   y.set_requires_grad(true);
                   return tensors_example({x, y});
                 }});
}

}  // namespace aotgrad::models
