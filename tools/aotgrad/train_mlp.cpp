#include "train_mlp.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include "aotgrad/autograd.h"
#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "data/digits.h"

namespace aotgrad::cli {

namespace {
struct Param {
  Tensor value, velocity;
};
Param make_param(const Shape& s, int64_t fan_in, Generator& g) {
  double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  Tensor v = uniform(s, -bound, bound, DType::Float32, &g);
  v.set_requires_grad(true);
  return {v, Tensor::zeros(s)};
}
}  // namespace

TrainResult train_digits_mlp(const std::string& data_file, int64_t epochs, bool quiet) {
  auto [train, test] = data::split(data::load_digits(data_file), 0.2, 0);
  Generator g(0);
  std::vector<Param> params{make_param({128, 64}, 64, g), make_param({128}, 64, g),
                            make_param({10, 128}, 128, g), make_param({10}, 128, g)};
  auto forward = [&](const Tensor& x) {
    Tensor h = relu(linear(x, params[0].value, params[1].value));
    return linear(h, params[2].value, params[3].value);
  };
  const int64_t n = train.labels.numel(), batch = 64;
  const double lr = 0.05, momentum = 0.9;
  auto start = std::chrono::steady_clock::now();
  int64_t step = 0;
  Generator shuffle(1);
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    Tensor perm = randint(0, n, {n}, DType::Int64, &shuffle);  // sampling with replacement
    for (int64_t b = 0; b + batch <= n; b += batch, ++step) {
      Tensor idx = slice(perm, 0, b, b + batch);
      Tensor loss = cross_entropy(forward(index(train.images, {idx})), index(train.labels, {idx}));
      for (Param& p : params) p.value.set_grad(Tensor());
      autograd::backward(loss);
      autograd::NoGradGuard no_grad;
      for (Param& p : params) {
        mul_(p.velocity, full({}, Scalar(momentum)));
        add_(p.velocity, p.value.grad());
        add_(p.value, p.velocity, Scalar(-lr));
      }
      if (!quiet && step % 50 == 0) {
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("\r  step %5lld  loss %.4f  %7.0f samples/s", static_cast<long long>(step),
                    loss.item<double>(), static_cast<double>((step + 1) * batch) / std::max(secs, 1e-9));
        std::fflush(stdout);
      }
    }
  }
  if (!quiet) std::printf("\n");
  autograd::NoGradGuard no_grad;
  Tensor pred = argmax(forward(test.images), 1);
  std::vector<int64_t> p = pred.to_vector<int64_t>(), y = test.labels.to_vector<int64_t>();
  int64_t correct = 0;
  for (size_t i = 0; i < p.size(); ++i) correct += p[i] == y[i];
  TrainResult r;
  r.test_accuracy = static_cast<double>(correct) / static_cast<double>(p.size());
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.steps = step;
  return r;
}

}  // namespace aotgrad::cli
