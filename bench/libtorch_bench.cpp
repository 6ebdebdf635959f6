// The four benchmark models of BENCHMARKS.md in libtorch (PyTorch's C++ API), timed
// exactly as `aotgrad bench` times them: median of N training steps (zero grads,
// forward + loss, backward, SGD lr 0.01) after 5 warm-up steps.
//
// Built only when libtorch-dev is installed (bench/compare_libtorch.sh); the aotgrad
// project itself never depends on PyTorch.
//
//   libtorch_bench MODEL THREADS STEPS [sgd|adamw]
//     -> prints the median step time in ms, the peak RSS in MiB and the median time of
//        optimizer.step() alone in ms. adamw: torch::optim::AdamW(lr 1e-3, weight decay
//        0.01), as `aotgrad bench --train-step` runs it.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace nn = torch::nn;

struct MlpImpl : nn::Module {
  MlpImpl(int64_t in, int64_t hidden) {
    net = register_module("net", nn::Sequential(nn::Linear(in, hidden), nn::ReLU(), nn::Linear(hidden, hidden),
                                                nn::ReLU(), nn::Linear(hidden, 10)));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& y) {
    return torch::nn::functional::cross_entropy(net->forward(x), y);
  }
  nn::Sequential net{nullptr};
};
TORCH_MODULE(Mlp);

nn::Sequential conv_bn_relu(int64_t in, int64_t out) {
  return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1)), nn::BatchNorm2d(out), nn::ReLU());
}

struct ConvNetImpl : nn::Module {
  ConvNetImpl() {
    b1 = register_module("block1", conv_bn_relu(3, 32));
    b2 = register_module("block2", conv_bn_relu(32, 32));
    b3 = register_module("block3", conv_bn_relu(32, 64));
    fc = register_module("fc", nn::Linear(64, 10));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& y) {
    auto h = b3->forward(torch::max_pool2d(b2->forward(b1->forward(x)), 2));
    return torch::nn::functional::cross_entropy(fc->forward(h.mean({2, 3})), y);
  }
  nn::Sequential b1{nullptr}, b2{nullptr}, b3{nullptr};
  nn::Linear fc{nullptr};
};
TORCH_MODULE(ConvNet);

struct BlockImpl : nn::Module {
  BlockImpl() {
    ln1 = register_module("ln1", nn::LayerNorm(nn::LayerNormOptions({128}).eps(1e-5)));
    ln2 = register_module("ln2", nn::LayerNorm(nn::LayerNormOptions({128}).eps(1e-5)));
    q = register_module("q", nn::Linear(128, 128));
    k = register_module("k", nn::Linear(128, 128));
    v = register_module("v", nn::Linear(128, 128));
    o = register_module("o", nn::Linear(128, 128));
    fc1 = register_module("fc1", nn::Linear(128, 512));
    fc2 = register_module("fc2", nn::Linear(512, 128));
    mask = register_buffer("mask", torch::ones({64, 64}, torch::kBool).triu(1));
  }
  torch::Tensor attn(const torch::Tensor& x) {
    const int64_t B = x.size(0), T = x.size(1), D = x.size(2);
    auto heads = [&](const torch::Tensor& t) { return t.view({B, T, 4, 32}).transpose(1, 2); };
    auto qh = heads(q->forward(x)), kh = heads(k->forward(x)), vh = heads(v->forward(x));
    auto s = torch::matmul(qh, kh.transpose(-2, -1)) * (1.0 / std::sqrt(32.0));
    s = s.masked_fill(mask.slice(0, 0, T).slice(1, 0, T), -INFINITY);
    auto a = torch::softmax(s, -1);
    return o->forward(torch::matmul(a, vh).transpose(1, 2).reshape({B, T, D}));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& target) {
    auto h = x + attn(ln1->forward(x));
    auto y = h + fc2->forward(torch::gelu(fc1->forward(ln2->forward(h))));
    return torch::mse_loss(y, target);
  }
  nn::LayerNorm ln1{nullptr}, ln2{nullptr};
  nn::Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr}, fc1{nullptr}, fc2{nullptr};
  torch::Tensor mask;
};
TORCH_MODULE(Block);

double median(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  return ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
}

std::string g_optimizer = "sgd";
double g_optimizer_ms = 0;  // median optimizer.step() time of the last time_steps
double g_last_loss = 0;     // the loss of the last step, to check two BLAS kernels agree

template <typename M>
double time_steps(M model, const torch::Tensor& x, const torch::Tensor& y, int steps) {
  model->train();
  std::unique_ptr<torch::optim::Optimizer> opt;
  if (g_optimizer == "adamw")
    opt =
        std::make_unique<torch::optim::AdamW>(model->parameters(), torch::optim::AdamWOptions(1e-3).weight_decay(0.01));
  else
    opt = std::make_unique<torch::optim::SGD>(model->parameters(), torch::optim::SGDOptions(0.01));
  std::vector<double> ms, opt_ms;
  auto step = [&] {
    for (auto& p : model->parameters())
      if (p.grad().defined()) p.grad().zero_();
    auto loss = model->forward(x, y);
    loss.backward();
    g_last_loss = loss.template item<double>();
    auto t0 = std::chrono::steady_clock::now();
    opt->step();
    opt_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  };
  for (int i = 0; i < 5; ++i) step();
  opt_ms.clear();
  for (int i = 0; i < steps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    step();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  g_optimizer_ms = median(opt_ms);
  return median(ms);
}

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    std::fprintf(stderr,
                 "usage: libtorch_bench MODEL THREADS STEPS [sgd|adamw]  (prints: median_step_ms peak_rss_mb "
                 "median_optimizer_ms last_loss)\n");
    return 2;
  }
  if (argc == 5) g_optimizer = argv[4];
  const std::string model = argv[1];
  const int threads = std::stoi(argv[2]), steps = std::stoi(argv[3]);
  torch::set_num_threads(threads);
  torch::manual_seed(0);
  double ms = 0;
  if (model == "mlp_small") {
    ms = time_steps(Mlp(64, 128), torch::randn({64, 64}), torch::randint(0, 10, {64}), steps);
  } else if (model == "mlp_large") {
    ms = time_steps(Mlp(784, 1024), torch::randn({256, 784}), torch::randint(0, 10, {256}), steps);
  } else if (model == "convnet") {
    ms = time_steps(ConvNet(), torch::randn({32, 3, 32, 32}), torch::randint(0, 10, {32}), steps);
  } else if (model == "transformer_block") {
    ms = time_steps(Block(), torch::randn({8, 64, 128}), torch::randn({8, 64, 128}), steps);
  } else {
    std::fprintf(stderr, "libtorch_bench: unknown model '%s'\n", model.c_str());
    return 1;
  }
  // The median step time, then this process's peak resident memory (VmHWM) in MiB.
  double rss_mb = -1;
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) rss_mb = std::stod(line.substr(6)) / 1024.0;
  std::printf("%.4f %.1f %.4f %.6f\n", ms, rss_mb, g_optimizer_ms, g_last_loss);
  return 0;
}
