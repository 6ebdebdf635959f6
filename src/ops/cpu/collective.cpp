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

bool reads_input_until_waited(const OpInfo& op) {
  return op.id == OpId::c10d_reduce_scatter_tensor;
}

CollectiveBackend* collective_backend() {
  return backend_slot().get();
}
void set_collective_backend(std::shared_ptr<CollectiveBackend> backend) {
  backend_slot() = std::move(backend);
}

namespace {
// The backend, after checking the graph was made for as many ranks as the job has;
// null in one process.
CollectiveBackend* backend_for(int64_t group_size, const char* op) {
  CollectiveBackend* b = collective_backend();
  const int64_t world = b != nullptr ? b->world_size() : 1;
  AG_CHECK(group_size == world, "{}: the graph was exported for {} rank(s), but this job has {}", op, group_size,
           world);
  return b;
}
}  // namespace

void register_collective_kernels(Registry& r) {
  // The output is the input's copy, reduced in place in the background.
  r.kernel(OpId::c10d_all_reduce, [](const Args& a, Outputs& o) {
    Tensor& out = cpu::out0(o);
    const Tensor& in = a[0].to_tensor();
    if (out.raw_data() != in.raw_data()) cpu::copy_into(out, in);  // the executor may give the input's buffer
    if (CollectiveBackend* b = collective_backend()) b->start_all_reduce(out, parse_reduce_op(a[1].to_string()));
  });
  // This rank's rows are put in place first, then gathered in place: the input is
  // free as soon as the kernel returns.
  r.kernel(OpId::c10d_all_gather_into_tensor, [](const Args& a, Outputs& o) {
    Tensor& out = cpu::out0(o);
    const Tensor& in = a[0].to_tensor();
    CollectiveBackend* b = backend_for(a[1].to_int(), "all_gather_into_tensor");
    const int64_t rows = in.size(0), rank = b != nullptr ? b->rank() : 0;
    AG_INTERNAL_CHECK(out.is_contiguous(), "all_gather_into_tensor: the output must be contiguous");
    const int64_t row = rows == 0 ? 0 : in.numel() / rows;
    cpu::copy_into(Tensor::alias(out, in.sizes(), out.strides(), out.storage_offset() + rank * rows * row), in);
    if (b != nullptr) b->start_all_gather(out);
  });
  r.kernel(OpId::c10d_reduce_scatter_tensor, [](const Args& a, Outputs& o) {
    Tensor& out = cpu::out0(o);
    const Tensor& in = a[0].to_tensor();
    CollectiveBackend* b = backend_for(a[2].to_int(), "reduce_scatter_tensor");
    if (b == nullptr) return cpu::copy_into(out, in);  // one rank: its part is all of it
    b->start_reduce_scatter(in, out, parse_reduce_op(a[1].to_string()));
  });
  r.kernel(OpId::c10d_wait_tensor, [](const Args& a, Outputs& o) {
    const Tensor& in = a[0].to_tensor();
    if (CollectiveBackend* b = collective_backend()) b->wait(in);
    Tensor& out = cpu::out0(o);
    if (out.raw_data() != in.raw_data()) cpu::copy_into(out, in);
  });
}

}  // namespace aotgrad::ops
