// libFuzzer target: checkpoints (`aotgrad train --resume FILE`).
//
// The state is digits_mlp's whole training step with AdamW, as `aotgrad train --model
// digits_mlp --optimizer adamw` makes it (the seeds are its checkpoints). Any input
// must load or give an aotgrad user error, and a failed load must leave every tensor
// of the state as it was.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "aotgrad/error.h"
#include "aotgrad/models.h"
#include "aotgrad/ops.h"
#include "aotgrad/train_step.h"

using namespace aotgrad;

namespace {
struct Setup {
  models::Instance inst = models::instantiate(models::find_model("digits_mlp"));
  exporting::TrainStepGraph step;
  exporting::TrainState state;
  std::string path = "/tmp/aotgrad_checkpoint_fuzz_" + std::to_string(getpid()) + ".json";
  Setup() {
    exporting::TrainStepOptions o;
    o.loss = exporting::LossKind::CrossEntropy;
    o.rule = optim::UpdateRule::adam({1e-3, 0.9, 0.999, 1e-8, 0.01, true, false});
    o.export_options.record_stack_traces = false;
    step =
        exporting::aot_export_train_step(*inst.module, {Tensor::zeros({64, 64}), Tensor::zeros({64}, DType::Int64)}, o);
    state = exporting::TrainState::for_module(*inst.module, step);
  }
};
Setup& setup() {
  static Setup s;
  return s;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Setup& s = setup();
  std::ofstream(s.path, std::ios::binary)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  std::vector<std::vector<double>> before;
  for (const Tensor& t : s.state.values) before.push_back(t.to_vector<double>());
  try {
    (void)exporting::load_checkpoint(s.path, s.state);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Internal) {
      std::fprintf(stderr, "internal error on a bad checkpoint: %s\n", e.what());
      std::abort();
    }
    for (size_t i = 0; i < before.size(); ++i)
      if (s.state.values[i].to_vector<double>() != before[i]) {
        std::fprintf(stderr, "a failed load changed the state\n");
        std::abort();
      }
  }
  return 0;
}
