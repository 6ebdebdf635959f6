// Kernels of the functional collectives, on the installed CollectiveBackend.
#include "ops/collective.h"

#include "ops/cpu/loops.h"
#include "ops/families.h"

namespace aotgrad::ops {

namespace {
std::shared_ptr<CollectiveBackend>& backend_slot() {
  static std::shared_ptr<CollectiveBackend> backend;
  return backend;
}
}  // namespace

ReduceOp parse_reduce_op(const std::string& name) {
  if (name == "sum") return ReduceOp::Sum;
  if (name == "avg") return ReduceOp::Avg;
  AG_FAIL("all_reduce: unknown reduce_op '{}' (expected 'sum' or 'avg')", name);
}

CollectiveBackend* collective_backend() {
  return backend_slot().get();
}
void set_collective_backend(std::shared_ptr<CollectiveBackend> backend) {
  backend_slot() = std::move(backend);
}

void register_collective_kernels(Registry& r) {
  // The output is the input's copy, reduced in place in the background.
  r.kernel(OpId::c10d_all_reduce, [](const Args& a, Outputs& o) {
    Tensor& out = cpu::out0(o);
    const Tensor& in = a[0].to_tensor();
    if (out.raw_data() != in.raw_data()) cpu::copy_into(out, in);  // the executor may give the input's buffer
    if (CollectiveBackend* b = collective_backend()) b->start_all_reduce(out, parse_reduce_op(a[1].to_string()));
  });
  r.kernel(OpId::c10d_wait_tensor, [](const Args& a, Outputs& o) {
    const Tensor& in = a[0].to_tensor();
    if (CollectiveBackend* b = collective_backend()) b->wait(in);
    Tensor& out = cpu::out0(o);
    if (out.raw_data() != in.raw_data()) cpu::copy_into(out, in);
  });
}

}  // namespace aotgrad::ops
