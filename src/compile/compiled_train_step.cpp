// aot_compile_train_step: a whole-step graph through the compile pipeline (its one
// unit, "step") into one Program, called with a TrainState.
#include <chrono>
#include <map>
#include <mutex>

#include "aotgrad/compile.h"
#include "compile/pipeline.h"
#include "hop/register.h"
#include "support/error.h"

namespace aotgrad::compile {

namespace {
template <typename Passes>
CompileState run_step_passes(const graph::GraphModule& gm, const Passes& passes) {
  try {
    return passes();
  } catch (Error& e) {
    e.add_context("while compiling the training step " + gm.name);
    throw;
  }
}
}  // namespace

// A step graph with symbolic shapes is verified, merged and pruned once, then lowered
// per size on the first step at that size (Note [One compiled function for every
// size], compiled_function.cpp).
class CompiledTrainStepImpl {
 public:
  exporting::TrainStepGraph step;
  CompileOptions options;
  std::unique_ptr<Program> program;  // at the example's sizes
  std::map<int64_t, int64_t> example_sizes;
  std::shared_ptr<graph::GraphModule> pruned;  // symbolic: the step after cse and dce
  double compile_ms = 0;
  mutable std::mutex mu;
  mutable std::map<std::map<int64_t, int64_t>, std::unique_ptr<Program>> by_size;

  const Program& program_for(const TensorList& inputs) const {
    const graph::GraphModule& gm = *step.graph_module;
    if (gm.symbols.empty()) return *program;
    std::vector<Shape> sizes;
    for (const Tensor& t : inputs) sizes.push_back(t.sizes());
    const std::map<int64_t, int64_t> bindings = graph::bind_symbols(gm, sizes);
    if (bindings == example_sizes) return *program;
    std::lock_guard<std::mutex> lock(mu);
    auto it = by_size.find(bindings);
    if (it == by_size.end()) it = by_size.emplace(bindings, program_at(bindings)).first;
    return *it->second;
  }
  std::unique_ptr<Program> program_at(const std::map<int64_t, int64_t>& bindings) const {
    return run_step_passes(*pruned, [&] { return run_pipeline_on_step_at(pruned, options, bindings); })
        .unit("step")
        .draft->finish();
  }
};

TensorList CompiledTrainStep::operator()(exporting::TrainState& state, const nn::Args& batch) const {
  const graph::GraphModule& gm = *impl_->step.graph_module;
  TensorList inputs = state.bind(gm, batch);
  const Program& program = impl_->program_for(inputs);
  TensorList outputs = program.run(std::move(inputs));
  return state.absorb(gm, outputs);
}

int64_t CompiledTrainStep::num_sizes_compiled() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return 1 + static_cast<int64_t>(impl_->by_size.size());
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
  impl->options = options;
  const graph::GraphModule& gm = *step.graph_module;
  if (gm.symbols.empty()) {
    impl->program = run_step_passes(gm, [&] { return run_pipeline_on_step(step.graph_module, options); })
                        .unit("step")
                        .draft->finish();
  } else {
    impl->example_sizes = graph::hint_bindings(gm);
    impl->pruned =
        run_step_passes(gm, [&] { return run_pipeline_on_step(step.graph_module, options, "dce"); }).unit("step").graph;
    impl->program = impl->program_at(impl->example_sizes);
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
