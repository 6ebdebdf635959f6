// The tensor: a dense, strided view onto shared storage.
//
// A Tensor is a cheap handle (a shared pointer to a TensorImpl). Views share the
// storage of their base and differ in sizes, strides and offset. A tensor with no
// storage is a *meta* tensor: it has shape, strides and dtype but no data; shape
// rules and the tracer work on those. Autograd state (requires_grad, grad, grad_fn)
// lives on the impl, but its logic is in the autograd layer; the tracer attaches
// its own per-tensor state through TensorExtension, so this layer knows neither.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "aotgrad/dtype.h"
#include "aotgrad/sym.h"

namespace aotgrad {

using Shape = std::vector<int64_t>;

namespace autograd {
class Node;
}

/// Owned, 64-byte aligned bytes. Never resized once made.
struct Storage {
  explicit Storage(int64_t nbytes);
  /// Bytes owned elsewhere (a compiled program's arena), kept alive by `owner` and
  /// not freed here.
  Storage(void* data, int64_t nbytes, std::shared_ptr<void> owner);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  void* data = nullptr;
  int64_t nbytes = 0;
  /// Bumped by every in-place write; lets saved values detect later mutation.
  int64_t version = 0;
  std::shared_ptr<void> owner;  // set for borrowed bytes
};

/// Per-tensor state owned by a layer above core (the tracer's proxy, say).
class TensorExtension {
 public:
  virtual ~TensorExtension() = default;
  /// What error messages call this tensor, if the owner knows better than its shape
  /// ("primals_1, ParamAOTInput(target='linear.weight')"); empty otherwise.
  virtual std::string label() const { return ""; }
};

struct TensorImpl {
  Shape sizes;
  Shape strides;
  int64_t offset = 0;
  DType dtype = DType::Float32;
  std::shared_ptr<Storage> storage;  // null for meta tensors
  /// Set on a symbolic trace's proxies: each dim's size as an expression, `sizes`
  /// holding their values in the traced example (docs/SYMBOLIC_SHAPES.md).
  std::shared_ptr<const std::vector<SymExpr>> sym_sizes;

  // Autograd state; see src/autograd for what it means.
  bool requires_grad = false;
  std::shared_ptr<autograd::Node> grad_fn;
  uint32_t output_nr = 0;
  std::shared_ptr<TensorImpl> grad;
  /// Set on views made by view ops: the tensor whose storage this one aliases.
  std::shared_ptr<TensorImpl> view_base;
  /// A leaf's gradient accumulator node, shared by all its uses in one graph.
  std::weak_ptr<autograd::Node> grad_accumulator;

  std::shared_ptr<TensorExtension> extension;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  /// A new contiguous tensor with uninitialised data.
  static Tensor empty(const Shape& sizes, DType dtype = DType::Float32);
  /// A new contiguous tensor filled with zeros.
  static Tensor zeros(const Shape& sizes, DType dtype = DType::Float32);
  /// A meta tensor (no data) with the given layout; contiguous strides if none given.
  static Tensor meta(const Shape& sizes, DType dtype, Shape strides = {}, int64_t offset = 0);
  /// A tensor over `storage` with the given layout.
  static Tensor from_storage(std::shared_ptr<Storage> storage, const Shape& sizes, const Shape& strides, int64_t offset,
                             DType dtype);
  /// A tensor aliasing `base`'s storage with another layout.
  static Tensor alias(const Tensor& base, const Shape& sizes, const Shape& strides, int64_t offset);
  /// Copies `values` (row-major) into a new tensor of `sizes`.
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& sizes);
  /// A 0-d tensor.
  template <typename T>
  static Tensor scalar(T value) {
    return from_vector<T>({value}, {});
  }

  bool defined() const { return impl_ != nullptr; }
  const Shape& sizes() const { return impl_->sizes; }
  const Shape& strides() const { return impl_->strides; }
  /// Size of `dim`; negative dims count from the end.
  int64_t size(int64_t dim) const;
  int64_t stride(int64_t dim) const;
  /// Each dim's size as a SymInt: during a symbolic trace an expression of the
  /// graph's symbols with its value in the example (sizes() holds only the values);
  /// plain integers otherwise. Code that feeds a size into an op's arguments (a view's
  /// shape) reads it here, so the graph keeps it symbolic.
  SymShape sym_sizes() const;
  SymInt sym_size(int64_t dim) const;
  bool has_symbolic_sizes() const { return impl_->sym_sizes != nullptr; }
  /// Sets the expressions of the sizes (the tracer does); an all-constant list clears them.
  void set_sym_sizes(const std::vector<SymExpr>& exprs) const;
  int64_t dim() const { return static_cast<int64_t>(impl_->sizes.size()); }
  int64_t numel() const;
  DType dtype() const { return impl_->dtype; }
  int64_t storage_offset() const { return impl_->offset; }
  bool is_contiguous() const;
  bool is_meta() const { return impl_->storage == nullptr; }
  bool is_floating_point() const { return is_floating(impl_->dtype); }

  /// Pointer to element 0 of this view. Throws if the tensor is meta or the type differs.
  template <typename T>
  T* data_ptr() const;
  void* raw_data() const;
  /// The single element of a one-element tensor, converted to T.
  template <typename T>
  T item() const;
  /// All elements in row-major order, converted to T.
  template <typename T>
  std::vector<T> to_vector() const;

  bool requires_grad() const { return impl_->requires_grad; }
  /// Marks a leaf as requiring grad. Returns *this for chaining.
  Tensor& set_requires_grad(bool value = true);
  Tensor grad() const { return Tensor(impl_->grad); }
  void set_grad(const Tensor& g) { impl_->grad = g.impl_; }
  const std::shared_ptr<autograd::Node>& grad_fn() const { return impl_->grad_fn; }
  bool is_leaf() const { return impl_->grad_fn == nullptr; }
  /// A new handle on the same data with no autograd history.
  Tensor detach() const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  /// "f32[2, 3]": the dtype and shape, as FX prints them.
  std::string describe() const;
  /// The values, for debugging ("tensor([[1., 2.], ...], f32[2, 2])").
  std::string to_string(int64_t max_elements = 32) const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

/// "[2, 3]"
std::string shape_str(const Shape& s);
/// The most elements one tensor may have: 2^48 (a petabyte of floats). Shapes from
/// files are untrusted; keeping every element count below this means products of
/// sizes, byte counts and strides never wrap around int64.
inline constexpr int64_t kMaxNumel = int64_t{1} << 48;
/// The element count; a user error if it would exceed kMaxNumel (negative sizes,
/// which shape inference uses for "-1", count by their magnitude).
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& sizes);

}  // namespace aotgrad
