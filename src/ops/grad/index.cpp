// Derivatives of indexing and embedding.
#include "aotgrad/ops.h"
#include "ops/dispatch.h"
#include "ops/families.h"

namespace aotgrad::ops {

namespace {
using G = std::vector<Tensor>;
}

void register_index_derivatives(Registry& r) {
  r.derivative(OpId::index_Tensor, [](const BackwardContext& c) {
    const TensorList& idx = c.args[1].to_tensor_list();
    Tensor z = new_zeros(c.grad(), c.in(0).sizes());
    G g{index_put(z, idx, c.grad(), true)};
    g.resize(1 + idx.size());
    return g;
  });
  auto put_backward = [](const BackwardContext& c) {
    const TensorList& idx = c.args[1].to_tensor_list();
    const Tensor& values = c.args[2].to_tensor();
    const size_t vslot = 1 + idx.size();
    Tensor gv = c.need(vslot) ? index(c.grad(), idx) : Tensor();
    Tensor gs;
    if (c.need(0)) gs = c.args[3].to_bool() ? c.grad() : index_put(c.grad(), idx, zeros_like(values), false);
    G g(vslot + 1);
    g[0] = gs;
    g[vslot] = gv;
    return g;
  };
  r.derivative(OpId::index_put, put_backward);
  r.derivative(OpId::index_put_, put_backward);
  r.derivative(OpId::embedding, [](const BackwardContext& c) {
    return G{embedding_dense_backward(c.grad(), c.in(1), c.in(0).sizes()[0], c.args[2].to_int(), c.args[3].to_bool())};
  });
  r.not_differentiable(OpId::embedding_dense_backward);
}

}  // namespace aotgrad::ops
