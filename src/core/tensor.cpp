#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "aotgrad/tensor.h"
#include "core/allocator.h"
#include "core/shape.h"
#include "support/error.h"

namespace aotgrad {

Storage::Storage(int64_t n) : nbytes(n) {
  data = allocate_storage(static_cast<size_t>(std::max<int64_t>(n, 0)));
}

Storage::Storage(void* borrowed, int64_t n, std::shared_ptr<void> keep_alive)
    : data(borrowed), nbytes(n), owner(std::move(keep_alive)) {}

Storage::~Storage() {
  if (!owner) free_storage(data, static_cast<size_t>(std::max<int64_t>(nbytes, 0)));
}

Tensor Tensor::from_storage(std::shared_ptr<Storage> storage, const Shape& sizes, const Shape& strides, int64_t offset,
                            DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->sizes = sizes;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = dtype;
  impl->storage = std::move(storage);
  return Tensor(std::move(impl));
}

Tensor Tensor::empty(const Shape& sizes, DType dtype) {
  for (int64_t d : sizes) AG_CHECK(d >= 0, "empty: expected non-negative sizes, but got {}", shape_str(sizes));
  auto impl = std::make_shared<TensorImpl>();
  impl->sizes = sizes;
  impl->strides = contiguous_strides(sizes);
  impl->dtype = dtype;
  impl->storage = std::make_shared<Storage>(shape_numel(sizes) * dtype_size(dtype));
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& sizes, DType dtype) {
  Tensor t = empty(sizes, dtype);
  std::memset(t.raw_data(), 0, static_cast<size_t>(t.numel() * dtype_size(dtype)));
  return t;
}

Tensor Tensor::meta(const Shape& sizes, DType dtype, Shape strides, int64_t offset) {
  // Every shape rule's result passes here: no tensor, not even a meta one, may have
  // more elements than kMaxNumel (sizes from untrusted files reach the shape rules).
  (void)shape_numel(sizes);
  auto impl = std::make_shared<TensorImpl>();
  impl->sizes = sizes;
  impl->strides = strides.empty() && !sizes.empty() ? contiguous_strides(sizes) : std::move(strides);
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::alias(const Tensor& base, const Shape& sizes, const Shape& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->sizes = sizes;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = base.dtype();
  impl->storage = base.impl_->storage;
  impl->view_base = base.impl_->view_base ? base.impl_->view_base : base.impl_;
  return Tensor(std::move(impl));
}

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& sizes) {
  AG_CHECK(static_cast<int64_t>(values.size()) == shape_numel(sizes),
           "from_vector: expected {} values for shape {}, but got {}", shape_numel(sizes), shape_str(sizes),
           values.size());
  Tensor t = empty(sizes, dtype_of<T>());
  T* p = t.data_ptr<T>();
  for (size_t i = 0; i < values.size(); ++i) p[i] = values[i];
  return t;
}

int64_t Tensor::size(int64_t d) const {
  return impl_->sizes[normalize_dim(d, dim(), "size")];
}
SymShape Tensor::sym_sizes() const {
  SymShape out;
  out.reserve(impl_->sizes.size());
  for (size_t d = 0; d < impl_->sizes.size(); ++d)
    out.push_back(impl_->sym_sizes ? SymInt((*impl_->sym_sizes)[d], impl_->sizes[d]) : SymInt(impl_->sizes[d]));
  return out;
}
SymInt Tensor::sym_size(int64_t d) const {
  const auto i = static_cast<size_t>(normalize_dim(d, dim(), "size"));
  return impl_->sym_sizes ? SymInt((*impl_->sym_sizes)[i], impl_->sizes[i]) : SymInt(impl_->sizes[i]);
}
void Tensor::set_sym_sizes(const std::vector<SymExpr>& exprs) const {
  AG_INTERNAL_CHECK(exprs.size() == impl_->sizes.size(), "set_sym_sizes: {} expressions for {}", exprs.size(),
                    describe());
  const bool symbolic = std::any_of(exprs.begin(), exprs.end(), [](const SymExpr& e) { return !e.is_constant(); });
  impl_->sym_sizes = symbolic ? std::make_shared<const std::vector<SymExpr>>(exprs) : nullptr;
}
int64_t Tensor::stride(int64_t d) const {
  return impl_->strides[normalize_dim(d, dim(), "stride")];
}
int64_t Tensor::numel() const {
  return shape_numel(impl_->sizes);
}
bool Tensor::is_contiguous() const {
  return is_contiguous_layout(impl_->sizes, impl_->strides);
}

void* Tensor::raw_data() const {
  AG_CHECK(impl_ && impl_->storage, "data access on a {} tensor {}", impl_ ? "meta" : "undefined",
           impl_ ? describe() : "");
  return static_cast<char*>(impl_->storage->data) + impl_->offset * dtype_size(impl_->dtype);
}

template <typename T>
T* Tensor::data_ptr() const {
  AG_CHECK(impl_ && dtype_of<T>() == impl_->dtype, "data_ptr: expected a {} tensor, but got {}",
           dtype_name(dtype_of<T>()), impl_ ? describe() : "an undefined tensor");
  return static_cast<T*>(raw_data());
}

template <typename T>
T Tensor::item() const {
  AG_CHECK(defined() && numel() == 1, "item: expected a tensor with one element, but got {}",
           defined() ? describe() : "an undefined tensor");
  return visit_dtype(dtype(), [&]<typename S>() { return static_cast<T>(*static_cast<S*>(raw_data())); });
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  std::vector<T> out;
  out.reserve(static_cast<size_t>(numel()));
  visit_dtype(dtype(), [&]<typename S>() {
    const S* p = static_cast<const S*>(raw_data());
    for_each_offset(sizes(), strides(), [&](int64_t o) { out.push_back(static_cast<T>(p[o])); });
  });
  return out;
}

Tensor& Tensor::set_requires_grad(bool value) {
  AG_CHECK(!value || is_floating(dtype()),
           "set_requires_grad: only floating-point tensors can require gradients, but got {}", describe());
  AG_CHECK(is_leaf() || value, "set_requires_grad(false) on a non-leaf tensor {}; use detach() instead", describe());
  impl_->requires_grad = value;
  return *this;
}

Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  impl->sizes = impl_->sizes;
  impl->strides = impl_->strides;
  impl->offset = impl_->offset;
  impl->dtype = impl_->dtype;
  impl->storage = impl_->storage;
  impl->sym_sizes = impl_->sym_sizes;
  impl->view_base = impl_->view_base;
  impl->extension = impl_->extension;
  return Tensor(std::move(impl));
}

std::string Tensor::describe() const {
  if (!impl_) return "undefined";
  return fmt::format("{}{}", dtype_abbrev(dtype()), shape_str(sizes()));
}

std::string Tensor::to_string(int64_t max_elements) const {
  if (!impl_) return "tensor(undefined)";
  if (is_meta()) return fmt::format("tensor(meta, {})", describe());
  std::vector<double> v = to_vector<double>();
  std::string body;
  for (int64_t i = 0; i < static_cast<int64_t>(v.size()) && i < max_elements; ++i)
    body += fmt::format("{}{:.6g}", i ? ", " : "", v[i]);
  if (static_cast<int64_t>(v.size()) > max_elements) body += ", ...";
  return fmt::format("tensor([{}], {})", body, describe());
}

#define AG_INSTANTIATE(T)                                                      \
  template Tensor Tensor::from_vector<T>(const std::vector<T>&, const Shape&); \
  template T* Tensor::data_ptr<T>() const;                                     \
  template T Tensor::item<T>() const;                                          \
  template std::vector<T> Tensor::to_vector<T>() const;
AG_INSTANTIATE(float)
AG_INSTANTIATE(double)
AG_INSTANTIATE(int64_t)
AG_INSTANTIATE(int32_t)
AG_INSTANTIATE(bool)
#undef AG_INSTANTIATE

}  // namespace aotgrad
