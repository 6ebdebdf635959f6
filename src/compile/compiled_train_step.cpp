// aot_compile_train_step: a whole-step graph through the compile pipeline (its one
// unit, "step") into one Program, called with a TrainState.
#include <chrono>

#include "aotgrad/compile.h"
#include "compile/pipeline.h"
#include "hop/register.h"
#include "support/error.h"

namespace aotgrad::compile {

class CompiledTrainStepImpl {
 public:
  exporting::TrainStepGraph step;
  std::unique_ptr<Program> program;
  double compile_ms = 0;
};

TensorList CompiledTrainStep::operator()(exporting::TrainState& state, const nn::Args& batch) const {
  const graph::GraphModule& gm = *impl_->step.graph_module;
  TensorList outputs = impl_->program->run(state.bind(gm, batch));
  return state.absorb(gm, outputs);
}

ProgramStats CompiledTrainStep::stats() const {
  return impl_->program->stats();
}
int64_t CompiledTrainStep::updated_in_place() const {
  return impl_->program->stats().outputs_in_place;
}
int64_t CompiledTrainStep::copied_back() const {
  int64_t mutations = 0;
  for (const auto& d : impl_->step.graph_module->graph->output_node()->meta.out_descs)
    mutations += d && d->kind() == Descriptor::Kind::InputMutationOutput ? 1 : 0;
  return mutations - updated_in_place();
}
double CompiledTrainStep::compile_ms() const {
  return impl_->compile_ms;
}
std::string CompiledTrainStep::print_program() const {
  return impl_->program->print();
}

CompiledTrainStep aot_compile_train_step(const exporting::TrainStepGraph& step, const CompileOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  AG_CHECK(step.graph_module != nullptr, "aot_compile_train_step: the step has no graph");
  hop::register_higher_order_ops();
  auto impl = std::make_shared<CompiledTrainStepImpl>();
  impl->step = step;
  try {
    CompileState state = run_pipeline_on_step(step.graph_module, options);
    impl->program = state.unit("step").draft->finish();
  } catch (Error& e) {
    e.add_context("while compiling the training step " + step.graph_module->name);
    throw;
  }
  impl->compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  CompiledTrainStep result;
  result.impl_ = std::move(impl);
  return result;
}

void run_compile_passes(const exporting::TrainStepGraph& step, const CompileOptions& options) {
  AG_CHECK(step.graph_module != nullptr, "run_compile_passes: the step has no graph");
  (void)run_pipeline_on_step(step.graph_module, options, options.pipeline.stop_after);
}

}  // namespace aotgrad::compile
