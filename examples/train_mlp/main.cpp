// Define a module, export its joint forward + backward graph, print it, compile it
// and train a few steps with the compiled function: what a user of the installed
// aotgrad package writes. Only public headers (include/aotgrad/) are used.
#include <cstdio>
#include <memory>

#include "aotgrad/autograd.h"
#include "aotgrad/compile.h"
#include "aotgrad/dist.h"
#include "aotgrad/error.h"
#include "aotgrad/export.h"
#include "aotgrad/graph.h"
#include "aotgrad/nn.h"
#include "aotgrad/ops.h"
#include "aotgrad/optim.h"
#include "aotgrad/random.h"
#include "aotgrad/version.h"

using namespace aotgrad;

// A two-layer perceptron: Linear -> ReLU -> Linear.
class Mlp : public nn::UnaryModule {
 public:
  Mlp() : UnaryModule("Mlp") {
    fc1_ = register_module("fc1", std::make_shared<nn::Linear>(4, 16));
    fc2_ = register_module("fc2", std::make_shared<nn::Linear>(16, 1));
  }
  Tensor apply(const Tensor& x) override { return (*fc2_)(relu((*fc1_)(x))); }

 private:
  std::shared_ptr<nn::Linear> fc1_, fc2_;
};

int main() {
  try {
    std::printf("aotgrad %s\n", AOTGRAD_VERSION);
    // The job this process belongs to: under mpirun, Open MPI's world; here, one process.
    std::printf("rank %d of %d\n", dist::Job::join().rank(), dist::Job::join().world_size());
    manual_seed(0);
    Mlp model;
    // A regression target: y = sum of the inputs.
    const Tensor x = randn({32, 4});
    const Tensor y = sum(x, IntList{1}, /*keepdim=*/true);

    exporting::JointWithDescriptors joint = exporting::aot_export_joint_with_descriptors(model, {x});
    std::printf("%s", graph::print_readable(*joint.graph_module, graph::PrintFormat::Compact).c_str());
    // Every input is labelled with a descriptor: parameters, the user input, tangents.
    for (const graph::Node* p : joint.graph_module->graph->placeholders())
      std::printf("%-12s %s\n", p->name().c_str(), p->meta.desc->str().c_str());
    compile::CompiledFunction step = compile::aot_compile_joint_with_descriptors(joint);

    std::vector<Tensor> params;
    for (auto& [name, p] : model.named_parameters()) params.push_back(p);
    optim::SGD optimizer(params, /*lr=*/0.05);
    double first = 0, last = 0;
    for (int i = 0; i < 50; ++i) {
      optimizer.zero_grad();
      Tensor out = step.call_module(model, {x}).leaf().to_tensor();
      Tensor loss = mse_loss(out, y);
      autograd::backward({loss});
      optimizer.step();
      last = loss.item<float>();
      if (i == 0) first = last;
    }
    std::printf("loss: %.4f -> %.4f\n", first, last);
    return last < first / 4 ? 0 : 1;  // training made progress
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
