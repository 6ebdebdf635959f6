// Sample makers and naive references shared by the op database's files.
#pragma once

#include <cmath>
#include <functional>

#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "op_db.h"

namespace aotgrad::testing {

inline Generator& gen() {
  static Generator g(1234);
  return g;
}
inline const DType F = DType::Float64;
inline Tensor R(const Shape& s) {
  return randn(s, F, &gen());
}
// Positive values away from 0 (log, sqrt, division).
inline Tensor P(const Shape& s) {
  return add(abs(R(s)), Scalar(0.5));
}
inline Tensor I(const Shape& s, int64_t lo, int64_t hi) {
  return randint(lo, hi, s, DType::Int64, &gen());
}
inline Tensor B(const Shape& s) {
  return gt(R(s), Scalar(0.0));
}
// A non-contiguous 2-d tensor of shape s (a transposed view).
inline Tensor NC(const Shape& s) {
  return t(R({s[1], s[0]}));
}
inline Tensor ints(std::vector<int64_t> v) {
  const auto n = static_cast<int64_t>(v.size());
  return Tensor::from_vector<int64_t>(v, {n});
}

// Elementwise references computed in double from the flattened values.
inline Tensor map_ref(const Tensor& x, const std::function<double(double)>& f) {
  std::vector<double> v = x.to_vector<double>();
  for (double& e : v) e = f(e);
  return Tensor::from_vector<double>(v, x.sizes());
}
inline Tensor map2_ref(const IValue& a, const IValue& b, const std::function<double(double, double)>& f) {
  Tensor x = a.is_tensor() ? a.to_tensor() : scalar_tensor(a.to_scalar(), F);
  Tensor y = b.is_tensor() ? b.to_tensor() : scalar_tensor(b.to_scalar(), F);
  Shape s = x.sizes().size() >= y.sizes().size() ? x.sizes() : y.sizes();
  // Broadcast by expanding both (views), then read them out.
  Shape out(std::max(x.dim(), y.dim()));
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t dx = i + x.dim() >= out.size() ? x.sizes()[i + x.dim() - out.size()] : 1;
    int64_t dy = i + y.dim() >= out.size() ? y.sizes()[i + y.dim() - out.size()] : 1;
    out[i] = std::max(dx, dy);
  }
  std::vector<double> vx = expand(x, out).to_vector<double>(), vy = expand(y, out).to_vector<double>();
  for (size_t i = 0; i < vx.size(); ++i) vx[i] = f(vx[i], vy[i]);
  return Tensor::from_vector<double>(vx, out);
}
inline std::function<Tensor(const Args&)> unary_ref(double (*f)(double)) {
  return [f](const Args& a) { return map_ref(a[0].to_tensor(), f); };
}

inline std::vector<Sample> unary_samples() {
  return {{"2d", {R({3, 4})}}, {"0-d", {R({})}}, {"non-contiguous", {NC({3, 4})}}, {"empty", {R({0, 3})}}};
}
inline std::vector<Sample> positive_samples() {
  return {{"2d", {P({3, 4})}}, {"0-d", {P({})}}, {"non-contiguous", {t(P({4, 3}))}}};
}

/// Appends an entry and returns it for adjustments (tolerances, errors).
inline OpEntry* add_entry(std::vector<OpEntry>& db, ops::OpId op, std::function<std::vector<Sample>()> s,
                          std::function<Tensor(const Args&)> ref = nullptr) {
  OpEntry e;
  e.op = op;
  e.samples = std::move(s);
  e.reference = std::move(ref);
  db.push_back(std::move(e));
  return &db.back();
}

}  // namespace aotgrad::testing
