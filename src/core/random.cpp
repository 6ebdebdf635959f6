#include "aotgrad/random.h"

#include <cmath>

#include "support/error.h"

namespace aotgrad {

double Generator::uniform() {
  return static_cast<double>(engine_() >> 11) * 0x1.0p-53;
}

double Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = uniform(), u2 = uniform();
  if (u1 < 1e-300) u1 = 1e-300;
  double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2 * M_PI * u2);
  has_spare_ = true;
  return r * std::cos(2 * M_PI * u2);
}

int64_t Generator::integer(int64_t low, int64_t high) {
  uint64_t span = static_cast<uint64_t>(high - low);
  return low + static_cast<int64_t>(engine_() % span);
}

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}

void manual_seed(uint64_t seed) {
  default_generator().seed(seed);
}

namespace {
template <typename F>
Tensor fill_with(const Shape& sizes, DType dtype, F&& draw) {
  Tensor t = Tensor::empty(sizes, dtype);
  visit_dtype(dtype, [&]<typename T>() {
    T* p = t.data_ptr<T>();
    const int64_t n = t.numel();
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(draw());
  });
  return t;
}
}  // namespace

Tensor randn(const Shape& sizes, DType dtype, Generator* gen) {
  AG_CHECK(is_floating(dtype), "randn: expected a floating dtype, but got {}", dtype_name(dtype));
  Generator& g = gen ? *gen : default_generator();
  return fill_with(sizes, dtype, [&] { return g.normal(); });
}

Tensor rand(const Shape& sizes, DType dtype, Generator* gen) {
  AG_CHECK(is_floating(dtype), "rand: expected a floating dtype, but got {}", dtype_name(dtype));
  Generator& g = gen ? *gen : default_generator();
  return fill_with(sizes, dtype, [&] { return g.uniform(); });
}

Tensor uniform(const Shape& sizes, double low, double high, DType dtype, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  return fill_with(sizes, dtype, [&] { return low + (high - low) * g.uniform(); });
}

Tensor randint(int64_t low, int64_t high, const Shape& sizes, DType dtype, Generator* gen) {
  AG_CHECK(low < high, "randint: expected low < high, but got low={} high={}", low, high);
  Generator& g = gen ? *gen : default_generator();
  return fill_with(sizes, dtype, [&] { return g.integer(low, high); });
}

}  // namespace aotgrad
