#include "ops/shape/shape_utils.h"

namespace aotgrad::ops {

namespace {
int category(DType t) {
  return t == DType::Bool ? 0 : is_integral(t) ? 1 : 2;
}
}  // namespace

DType result_type(const Tensor& a, const Tensor& b) {
  bool a0 = a.dim() == 0, b0 = b.dim() == 0;
  if (a0 == b0) return promote_types(a.dtype(), b.dtype());
  const Tensor& dimmed = a0 ? b : a;
  const Tensor& zero = a0 ? a : b;
  if (category(zero.dtype()) > category(dimmed.dtype())) return zero.dtype();
  return dimmed.dtype();
}

DType result_type(const Tensor& a, const Scalar& b) {
  int cs = b.is_floating() ? 2 : b.is_integral() ? 1 : 0;
  if (cs <= category(a.dtype())) return a.dtype();
  return cs == 2 ? DType::Float32 : DType::Int64;
}

Tensor operand(const IValue& v) {
  if (v.is_tensor()) return v.to_tensor();
  Scalar s = v.to_scalar();
  if (s.is_floating()) return Tensor::scalar<double>(s.to_double());
  if (s.is_bool()) return Tensor::scalar<bool>(s.to_int() != 0);
  return Tensor::scalar<int64_t>(s.to_int());
}

DType result_type(const IValue& a, const IValue& b) {
  if (a.is_tensor() && b.is_tensor()) return result_type(a.to_tensor(), b.to_tensor());
  if (a.is_tensor()) return result_type(a.to_tensor(), b.to_scalar());
  if (b.is_tensor()) return result_type(b.to_tensor(), a.to_scalar());
  return result_type(operand(a), b.to_scalar());
}

void check_floating(const Tensor& t, std::string_view op, std::string_view arg) {
  AG_CHECK(is_floating(t.dtype()), "{}: expected {} to be a floating-point tensor, but got {}", op, arg, t.describe());
}

void check_dim(const Tensor& t, int64_t ndim, std::string_view op, std::string_view arg) {
  AG_CHECK(t.dim() == ndim, "{}: expected {} to have {} dims, but got {}", op, arg, ndim, t.describe());
}

void check_same_dtype(const Tensor& a, const Tensor& b, std::string_view op, std::string_view an, std::string_view bn) {
  AG_CHECK(a.dtype() == b.dtype(), "{}: expected {} and {} to have the same dtype, but got {} and {}", op, an, bn,
           a.describe(), b.describe());
}

std::vector<bool> reduction_mask(const IntList& dims, int64_t ndim, std::string_view op) {
  std::vector<bool> mask(std::max<int64_t>(ndim, 0), dims.empty());
  for (int64_t d : dims) {
    int64_t nd = normalize_dim(d, ndim, op);
    if (ndim == 0) continue;
    AG_CHECK(!mask[nd], "{}: dim {} appears more than once in the list of dims", op, nd);
    mask[nd] = true;
  }
  return mask;
}

Shape reduced_shape(const Shape& sizes, const std::vector<bool>& mask, bool keepdim) {
  Shape out;
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (!mask[d])
      out.push_back(sizes[d]);
    else if (keepdim)
      out.push_back(1);
  }
  return out;
}

}  // namespace aotgrad::ops
