// A seeded random generator and the factories that draw from it.
#pragma once

#include <cstdint>
#include <random>

#include "aotgrad/tensor.h"

namespace aotgrad {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : engine_(seed) {}
  void seed(uint64_t s) {
    engine_.seed(s);
    has_spare_ = false;
  }
  /// Uniform in [0, 1).
  double uniform();
  /// Standard normal (Box–Muller, pairs cached).
  double normal();
  /// Uniform integer in [low, high).
  int64_t integer(int64_t low, int64_t high);

 private:
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0;
};

/// The process-wide generator used when none is passed.
Generator& default_generator();
void manual_seed(uint64_t seed);

Tensor randn(const Shape& sizes, DType dtype = DType::Float32, Generator* gen = nullptr);
Tensor rand(const Shape& sizes, DType dtype = DType::Float32, Generator* gen = nullptr);
Tensor randint(int64_t low, int64_t high, const Shape& sizes, DType dtype = DType::Int64, Generator* gen = nullptr);
/// Uniform in [low, high): the initialiser of Linear and Conv2d.
Tensor uniform(const Shape& sizes, double low, double high, DType dtype = DType::Float32, Generator* gen = nullptr);

}  // namespace aotgrad
