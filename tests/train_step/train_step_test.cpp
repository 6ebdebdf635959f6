// The whole training step as one graph: PyTorch's numbers for 20 model x optimizer
// cases run three ways, the graph's inputs and outputs, schedules without
// recompiling, and checkpoints.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "../test_util.h"
#include "aotgrad/autograd.h"
#include "aotgrad/compile.h"
#include "aotgrad/models.h"
#include "aotgrad/ops.h"
#include "aotgrad/trace.h"
#include "aotgrad/train_step.h"
#include "compile/pipeline.h"
#include "compile/straight_line.h"
#include "conformance/train_step_case.h"

using namespace aotgrad;
using conformance::StepRunner;
using Kind = Descriptor::Kind;

namespace {
const std::string kCases = std::string(AOTGRAD_GOLDENS_DIR) + "/train_steps";

std::vector<std::string> case_files() {
  return conformance::golden_files({kCases});
}

// A built-in golden model with the case's first batch, and its whole-step graph.
struct StepSetup {
  models::Instance inst;
  nn::Args batch;
  exporting::TrainStepGraph step;
};
StepSetup setup(const std::string& model, const optim::UpdateRule& rule, std::optional<double> clip = std::nullopt) {
  const conformance::TrainStepCase c = conformance::load_train_step_case(kCases + "/" + model + "__adamw.json");
  StepSetup s{models::instantiate(models::find_model(model)), {}, {}};
  s.inst.module->train(true);
  nn::NamedTensors state = c.params;
  state.insert(state.end(), c.buffers.begin(), c.buffers.end());
  s.inst.module->load_state_dict(state);
  for (const Tensor& t : c.steps[0].inputs) s.batch.emplace_back(t);
  if (c.steps[0].target.defined()) s.batch.emplace_back(c.steps[0].target);
  exporting::TrainStepOptions o;
  o.loss = c.loss;
  o.rule = rule;
  o.clip_max_norm = clip;
  s.step = exporting::aot_export_train_step(*s.inst.module, s.batch, o);
  return s;
}

optim::UpdateRule adamw() {
  return optim::UpdateRule::adam({1e-2, 0.9, 0.999, 1e-8, 0.01, true, false});
}

std::vector<std::vector<float>> snapshot(const exporting::TrainState& s) {
  std::vector<std::vector<float>> out;
  for (size_t i = 0; i < s.keys.size(); ++i)
    if (s.keys[i].kind() != Kind::HyperparamInput) out.push_back(to(s.values[i], DType::Float32).to_vector<float>());
  return out;
}
}  // namespace

class TrainStepGolden : public ::testing::TestWithParam<std::tuple<std::string, StepRunner>> {};

TEST_P(TrainStepGolden, MatchesPyTorch) {
  const auto& [file, runner] = GetParam();
  conformance::CaseResult r = conformance::check_train_step(conformance::load_train_step_case(file), runner);
  EXPECT_TRUE(r.passed) << r.name << ": " << r.detail;
}

INSTANTIATE_TEST_SUITE_P(Cases, TrainStepGolden,
                         ::testing::Combine(::testing::ValuesIn(case_files()),
                                            ::testing::Values(StepRunner::Eager, StepRunner::Graph,
                                                              StepRunner::Compiled)),
                         [](const auto& info) {
                           std::string name = std::filesystem::path(std::get<0>(info.param)).stem().string() + "_" +
                                              conformance::step_runner_name(std::get<1>(info.param));
                           for (char& ch : name)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return name;
                         });

TEST(TrainStepGoldens, AllTwentyCasesArePresent) {
  EXPECT_EQ(case_files().size(), 20u);
}

TEST(TrainStepDescriptors, PrintAndParseBack) {
  Descriptor s = Descriptor::optimizer_state(Descriptor::param("fc.weight"), "exp_avg");
  EXPECT_EQ(s.str(), "OptimizerStateAOTInput(param=ParamAOTInput(target='fc.weight'), state='exp_avg')");
  EXPECT_EQ(Descriptor::parse(s.str()), s);
  EXPECT_TRUE(s.is_input());
  EXPECT_FALSE(s.is_differentiable());
  Descriptor h = Descriptor::hyperparam("lr");
  EXPECT_EQ(h.str(), "HyperparamAOTInput(name='lr')");
  EXPECT_EQ(Descriptor::parse(h.str()), h);
  EXPECT_NE(aotgrad::testing::error_of([] {
              Descriptor::optimizer_state(Descriptor::buffer("bn.running_mean"), "x");
            }).find("only parameters have one"),
            std::string::npos);
  EXPECT_NE(aotgrad::testing::error_of([] {
              Descriptor::parse("OptimizerStateAOTInput(param=ParamAOTInput(target='w'), name='x')");
            }).find("expected field 'state'"),
            std::string::npos);
}

TEST(TrainStepExport, InputsAndOutputsInTheDocumentedOrder) {
  StepSetup s = setup("conv_bn", adamw(), 0.5);
  const graph::GraphModule& gm = *s.step.graph_module;
  std::vector<std::string> inputs;
  for (const graph::Node* p : gm.graph->placeholders()) inputs.push_back(p->meta.desc->str());
  const std::vector<std::string> want_first = {
      "ParamAOTInput(target='conv.weight')",
      "ParamAOTInput(target='conv.bias')",
      "ParamAOTInput(target='bn.weight')",
      "ParamAOTInput(target='bn.bias')",
      "BufferAOTInput(target='bn.running_mean')",
      "BufferAOTInput(target='bn.running_var')",
      "BufferAOTInput(target='bn.num_batches_tracked')",
      "OptimizerStateAOTInput(param=ParamAOTInput(target='conv.weight'), state='step')",
      "OptimizerStateAOTInput(param=ParamAOTInput(target='conv.weight'), state='exp_avg')",
      "OptimizerStateAOTInput(param=ParamAOTInput(target='conv.weight'), state='exp_avg_sq')",
  };
  ASSERT_GE(inputs.size(), want_first.size());
  EXPECT_EQ(std::vector<std::string>(inputs.begin(), inputs.begin() + 10), want_first);
  // 4 params x 3 states, then lr, beta1, beta2, eps, weight_decay, max_norm, then x and the target.
  ASSERT_EQ(inputs.size(), 7u + 12 + 6 + 2);
  EXPECT_EQ(inputs[19], "HyperparamAOTInput(name='lr')");
  EXPECT_EQ(inputs[24], "HyperparamAOTInput(name='max_norm')");
  EXPECT_EQ(inputs[25], "PlainAOTInput(idx=0)");
  EXPECT_EQ(inputs[26], "PlainAOTInput(idx=1)");
  for (const graph::Node* p : gm.graph->placeholders()) {
    if (p->meta.desc->kind() == Kind::HyperparamInput) {
      EXPECT_EQ(p->meta.val.as_tensor().dtype, DType::Float64);
      EXPECT_TRUE(p->meta.val.as_tensor().sizes.empty());
    }
  }
  // Outputs: every parameter, the three buffers and every state as mutations, then loss and norm.
  const auto& outs = exporting::output_descriptors(gm);
  ASSERT_EQ(outs.size(), 4u + 3 + 12 + 2);
  EXPECT_EQ(outs[0]->str(), "InputMutationAOTOutput(mutated_input=ParamAOTInput(target='conv.weight'))");
  EXPECT_EQ(outs[4]->str(), "InputMutationAOTOutput(mutated_input=BufferAOTInput(target='bn.running_mean'))");
  EXPECT_EQ(outs[7]->str(),
            "InputMutationAOTOutput(mutated_input=OptimizerStateAOTInput(param=ParamAOTInput(target='conv.weight'), "
            "state='step'))");
  EXPECT_EQ(outs[19]->str(), "PlainAOTOutput(idx=0)");
  EXPECT_EQ(outs[20]->str(), "PlainAOTOutput(idx=1)");
  // fx_utils: each state with its new value; the hyperparameters by name.
  auto states = exporting::get_optimizer_state_nodes(gm);
  ASSERT_EQ(states.size(), 12u);
  EXPECT_EQ(states[1].param, "conv.weight");
  EXPECT_EQ(states[1].state, "exp_avg");
  for (const auto& st : states) EXPECT_NE(st.new_value, nullptr) << st.param << " " << st.state;
  auto hyper = exporting::get_hyperparam_nodes(gm);
  ASSERT_EQ(hyper.size(), 6u);
  EXPECT_EQ(hyper[0].first, "lr");
  // The file round trip keeps every descriptor.
  auto back = graph::from_json(graph::to_json(gm));
  EXPECT_EQ(graph::print_readable(*back), graph::print_readable(gm));
}

TEST(TrainStepExport, PrintedGraphShowsTheUpdate) {
  StepSetup s = setup("mlp_relu_ce", optim::UpdateRule::sgd({0.1, 0.9, 0, 1e-4, true, false}));
  const std::string text = graph::print_readable(*s.step.graph_module);
  EXPECT_NE(text.find("fc1_weight_momentum_buffer"), std::string::npos) << text;
  EXPECT_NE(text.find("OptimizerStateAOTInput(param=ParamAOTInput(target='fc1.weight'), state='momentum_buffer')"),
            std::string::npos);
  EXPECT_EQ(text.find("TangentAOTInput"), std::string::npos) << "a train step has no tangent inputs";
  EXPECT_EQ(text.find("GradAOTOutput"), std::string::npos) << "gradients stay inside the step";
}

TEST(TrainStepRun, ScheduledLearningRateNeedsNoNewCompile) {
  // Two steps with lr 0.01 then 0.003, compiled once, against the eager optimizer.
  StepSetup s = setup("layernorm_gelu", adamw());
  StepSetup e = setup("layernorm_gelu", adamw());
  compile::CompiledTrainStep step = compile::aot_compile_train_step(s.step);
  exporting::TrainState state = exporting::TrainState::for_module(*s.inst.module, s.step);
  optim::Optimizer eager(optim::parameters_of(*e.inst.module), adamw());
  for (double lr : {0.01, 0.003}) {
    state.set_hyperparam("lr", lr);
    step(state, s.batch);
    eager.rule().set_hyperparam("lr", lr);
    eager.zero_grad();
    nn::Args args(e.batch.begin(), e.batch.end() - 1);
    autograd::backward(mse_loss(e.inst.module->operator()(args).tensor(), e.batch.back().tensor()));
    eager.step();
  }
  auto got = s.inst.module->named_parameters(), want = e.inst.module->named_parameters();
  for (size_t i = 0; i < got.size(); ++i) {
    std::vector<float> a = got[i].second.to_vector<float>(), b = want[i].second.to_vector<float>();
    for (size_t k = 0; k < a.size(); ++k) ASSERT_NEAR(a[k], b[k], 1e-6) << got[i].first << "[" << k << "]";
  }
  EXPECT_NE(
      aotgrad::testing::error_of([&] { state.set_hyperparam("momentum", 0.9); }).find("no hyperparameter 'momentum'"),
      std::string::npos);
}

TEST(TrainStepCheckpoint, ResumeIsBitIdentical) {
  const auto dir = std::filesystem::path(aotgrad::testing::own_temp_path("ckpt"));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "step3.json").string();
  // Uninterrupted: 8 steps.
  StepSetup a = setup("conv_bn", adamw(), 0.5);
  compile::CompiledTrainStep step_a = compile::aot_compile_train_step(a.step);
  exporting::TrainState sa = exporting::TrainState::for_module(*a.inst.module, a.step);
  for (int k = 0; k < 8; ++k) {
    step_a(sa, a.batch);
    if (k == 2) exporting::save_checkpoint(path, sa, 3);
  }
  // Resumed from the checkpoint after step 3 into a fresh model: 5 more steps.
  StepSetup b = setup("conv_bn", adamw(), 0.5);
  compile::CompiledTrainStep step_b = compile::aot_compile_train_step(b.step);
  exporting::TrainState sb = exporting::TrainState::for_module(*b.inst.module, b.step);
  EXPECT_EQ(exporting::load_checkpoint(path, sb), 3);
  for (int k = 0; k < 5; ++k) step_b(sb, b.batch);
  EXPECT_EQ(snapshot(sa), snapshot(sb));
  std::filesystem::remove_all(dir);
}

TEST(TrainStepCheckpoint, MismatchIsAClearErrorAndChangesNothing) {
  const auto dir = std::filesystem::path(aotgrad::testing::own_temp_path("ckpt"));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "adamw.json").string();
  StepSetup a = setup("mlp_relu_ce", adamw());
  exporting::TrainState sa = exporting::TrainState::for_module(*a.inst.module, a.step);
  exporting::save_checkpoint(path, sa, 0);
  const std::string saved = aotgrad::testing::read_file(path);
  // Another optimizer: SGD's momentum buffers are not in an AdamW checkpoint.
  StepSetup b = setup("mlp_relu_ce", optim::UpdateRule::sgd({0.1, 0.9, 0, 0, false, false}));
  exporting::TrainState sb = exporting::TrainState::for_module(*b.inst.module, b.step);
  const auto before = snapshot(sb);
  EXPECT_NE(aotgrad::testing::error_of([&] { exporting::load_checkpoint(path, sb); }).find("momentum_buffer"),
            std::string::npos);
  EXPECT_EQ(snapshot(sb), before);
  // Another model.
  StepSetup c = setup("layernorm_gelu", adamw());
  exporting::TrainState sc = exporting::TrainState::for_module(*c.inst.module, c.step);
  EXPECT_NE(aotgrad::testing::error_of([&] { exporting::load_checkpoint(path, sc); }).find("another model"),
            std::string::npos);
  // Damaged: cut in half.
  const std::string cut = (dir / "cut.json").string();
  std::ofstream(cut) << saved.substr(0, saved.size() / 2);
  EXPECT_NE(aotgrad::testing::error_of([&] { exporting::load_checkpoint(cut, sa); }).find("cut.json"),
            std::string::npos);
  // A wrong shape.
  std::string reshaped = saved;
  const size_t at = reshaped.find("\"shape\":[");
  ASSERT_NE(at, std::string::npos);
  reshaped.replace(at, std::string("\"shape\":[").size(), "\"shape\":[7,");
  const std::string wrong = (dir / "wrong.json").string();
  std::ofstream(wrong) << reshaped;
  EXPECT_NE(aotgrad::testing::error_of([&] { exporting::load_checkpoint(wrong, sa); }).find("has shape"),
            std::string::npos);
  EXPECT_EQ(aotgrad::testing::read_file(path), saved) << "loading never writes the checkpoint";
  std::filesystem::remove_all(dir);
}

TEST(TrainStepCases, MalformedCaseIsAClearError) {
  EXPECT_NE(aotgrad::testing::error_of([] {
              conformance::parse_train_step_text(R"({"format_version": 1, "case": "x", "model": "mlp_relu_ce",
                  "optimizer_name": "x", "mode": "train", "params": [], "buffers": [],
                  "optimizer": {"type": "RMSprop"}})",
                                                 "bad.json");
            }).find("expected SGD, Adam or AdamW"),
            std::string::npos);
}

TEST(TrainStepCompiled, UpdatesInPlaceInOneMultiTensorLoop) {
  StepSetup s = setup("layernorm_gelu", adamw(), 0.5);
  compile::CompiledTrainStep step = compile::aot_compile_train_step(s.step);
  const compile::ProgramStats st = step.stats();
  // 6 parameters, each with step, exp_avg and exp_avg_sq: 24 updates, all in place.
  EXPECT_EQ(step.updated_in_place(), 24) << step.print_program();
  EXPECT_EQ(step.copied_back(), 0);
  // The elementwise update of all 6 parameters (new parameter, exp_avg, exp_avg_sq from
  // one read of each gradient) is one loop; so is the step counter's.
  EXPECT_GE(st.multi_tensor_loops, 1) << step.print_program();
  if (std::getenv("AOTGRAD_SHOW")) std::cout << step.print_program();
  EXPECT_GE(st.multi_tensor_members, 6);
  const std::string program = step.print_program();
  EXPECT_NE(program.find("multi_tensor[6 x fused["), std::string::npos) << program;
  // The parameters' storage is what the step writes: a tensor taken before the step sees it.
  exporting::TrainState state = exporting::TrainState::for_module(*s.inst.module, s.step);
  Tensor weight = s.inst.module->named_parameters()[0].second;
  std::vector<float> before = weight.to_vector<float>();
  step(state, s.batch);
  EXPECT_NE(weight.to_vector<float>(), before);
}

TEST(TrainStepCompiled, PerParameterScalarsRunAsOneBatch) {
  // Note [Single-element batches]: AdamW's bias corrections (step + 1, beta ** step,
  // 1 - beta ** step, lr / that, sqrt, the casts: eleven ops per parameter, plus the
  // shared 1 - beta and 1 - lr * wd) are evaluated by one instruction, placed before
  // the update loop that reads them; BitIdenticalToTheInterpretedGraph checks the
  // numbers. Clipping's own scalars (the norm's root, max_norm's cast) are a batch of
  // their own: batches keep to one phase of the step.
  StepSetup s = setup("layernorm_gelu", adamw(), 0.5);
  compile::CompiledTrainStep step = compile::aot_compile_train_step(s.step);
  const compile::ProgramStats st = step.stats();
  EXPECT_EQ(st.single_element_batches, 2) << step.print_program();
  EXPECT_GE(st.single_element_ops, 11 * 6) << step.print_program();
  const std::string program = step.print_program();
  const size_t scalars = program.find("scalars["), loop = program.find("multi_tensor[");
  ASSERT_NE(scalars, std::string::npos) << program;
  EXPECT_LT(scalars, loop) << program;
  // The new step counters are still written into their inputs.
  EXPECT_EQ(step.updated_in_place(), 24) << program;
}

namespace {
// Three steps of `model` under `rule`, clipped at 0.5, compiled and through the graph
// interpreter: the parameters and state each way, and the compiled program.
struct BothWays {
  std::vector<std::vector<float>> compiled, interpreted;
  std::string program;
  int64_t fused_groups = 0;
};
BothWays run_both_ways(const std::string& model, const optim::UpdateRule& rule) {
  StepSetup a = setup(model, rule, 0.5), b = setup(model, rule, 0.5);
  compile::CompiledTrainStep step = compile::aot_compile_train_step(a.step);
  exporting::TrainState sa = exporting::TrainState::for_module(*a.inst.module, a.step);
  exporting::TrainState sb = exporting::TrainState::for_module(*b.inst.module, b.step);
  for (int k = 0; k < 3; ++k) {
    step(sa, a.batch);
    exporting::interpret_train_step(b.step, sb, b.batch);
  }
  return {snapshot(sa), snapshot(sb), step.print_program(), step.stats().fused_groups};
}
}  // namespace

TEST(TrainStepCompiled, BitIdenticalToTheInterpretedGraph) {
  // Fused loops round every op as its kernel does (no contraction across the steps a
  // loop evaluates, folded scalar multiplies rounded as before): three compiled steps
  // give exactly the interpreter's parameters and state.
  for (const char* model : {"mlp_relu_ce", "conv_bn", "layernorm_gelu", "attention_causal"}) {
    const BothWays r = run_both_ways(model, adamw());
    EXPECT_EQ(r.compiled, r.interpreted) << model;
    EXPECT_GT(r.fused_groups, 0) << model;
  }
}

namespace {
// Every update rule the optimizers offer, as export shapes it (a term whose coefficient
// is 0 is left out, so each of these is a different loop).
std::vector<std::pair<std::string, optim::UpdateRule>> every_update_rule() {
  using optim::AdamOptions, optim::SGDOptions, optim::UpdateRule;
  return {
      {"sgd", UpdateRule::sgd({0.1, 0, 0, 0, false, false})},
      {"sgd wd", UpdateRule::sgd({0.1, 0, 0, 0.01, false, false})},
      {"sgd momentum", UpdateRule::sgd({0.1, 0.9, 0, 0, false, false})},
      {"sgd momentum dampening", UpdateRule::sgd({0.1, 0.9, 0.1, 0, false, false})},
      {"sgd momentum wd", UpdateRule::sgd({0.1, 0.9, 0, 0.01, false, false})},
      {"sgd nesterov", UpdateRule::sgd({0.1, 0.9, 0, 0, true, false})},
      {"sgd nesterov wd maximize", UpdateRule::sgd({0.1, 0.9, 0, 0.01, true, true})},
      {"adam", UpdateRule::adam({1e-2, 0.9, 0.999, 1e-8, 0, false, false})},
      {"adam l2", UpdateRule::adam({1e-2, 0.9, 0.999, 1e-8, 0.01, false, false})},
      {"adam maximize", UpdateRule::adam({1e-2, 0.9, 0.999, 1e-8, 0, false, true})},
      {"adamw", adamw()},
      {"adamw no wd", UpdateRule::adam({1e-2, 0.9, 0.999, 1e-8, 0, true, false})},
      {"adamw maximize", UpdateRule::adam({1e-2, 0.9, 0.999, 1e-8, 0.01, true, true})},
  };
}
}  // namespace

TEST(TrainStepCompiled, EveryOptimizerUpdateIsAStraightLineLoop) {
  // Note [Straight-line loops]: the build compiles a kernel for the shape of each
  // optimizer's update loop. A shape missing from kShapes (src/compile/straight_line.cpp)
  // is printed here, ready to add; the bits are checked against the interpreter below.
  for (const auto& [name, rule] : every_update_rule())
    for (std::optional<double> clip : {std::optional<double>{}, std::optional<double>{0.5}}) {
      StepSetup s = setup("mlp_relu_ce", rule, clip);
      std::unique_ptr<compile::Program> program =
          compile::run_pipeline_on_step(s.step.graph_module, {}).unit("step").draft->finish();
      int loops = 0;
      for (const compile::Instruction& ins : program->instructions()) {
        if (ins.loop == nullptr || ins.phase != "optimizer") continue;
        ++loops;
        EXPECT_NE(ins.loop->straight_line, nullptr)
            << name << (clip ? " clipped" : "") << ": no kernel for\n    entry<\"" << compile::loop_shape(*ins.loop)
            << "\">(),";
      }
      EXPECT_GE(loops, 1) << name;
    }
}

TEST(TrainStepCompiled, StraightLineLoopsGiveTheInterpretersBits) {
  // Three steps of every update rule, compiled (straight-line update loops) and through
  // the graph interpreter (one op at a time): the same parameters and state, bit for bit.
  for (const auto& [name, rule] : every_update_rule()) {
    const BothWays r = run_both_ways("conv_bn", rule);
    ASSERT_NE(r.program.find("straight-line"), std::string::npos) << name;
    EXPECT_EQ(r.compiled, r.interpreted) << name;
  }
}

namespace {
// A two-input step traced with make_fx, labelled as a training step: input 0 is the
// parameter 'w', input 1 the batch; output 0 is w's new value, output 1 a plain output.
exporting::TrainStepGraph labelled_step(const std::function<TensorList(const TensorList&)>& fn) {
  exporting::TrainStepGraph step;
  step.graph_module = trace::make_fx(fn, {Tensor::zeros({1000}), Tensor::zeros({1000})});
  graph::Graph& g = *step.graph_module->graph;
  g.placeholders()[0]->meta.desc = Descriptor::param("w");
  g.placeholders()[1]->meta.desc = Descriptor::plain_input(0);
  g.output_node()->meta.out_descs = {Descriptor::input_mutation(Descriptor::param("w")), Descriptor::plain_output(0)};
  graph::verify(*step.graph_module);
  return step;
}

// Runs `step` compiled on w = 1, 2, 3, … and g = 0.5: w's new value and the plain output.
std::pair<std::vector<float>, std::vector<float>> run_labelled(const exporting::TrainStepGraph& step,
                                                               int64_t* in_place) {
  compile::CompiledTrainStep compiled = compile::aot_compile_train_step(step);
  *in_place = compiled.updated_in_place();
  std::vector<float> w(1000);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i + 1);
  exporting::TrainState state;
  state.keys = {Descriptor::param("w")};
  state.values = {Tensor::from_vector<float>(w, {1000})};
  TensorList out = compiled(state, {full({1000}, 0.5)});
  return {state.values[0].to_vector<float>(), out.at(0).to_vector<float>()};
}
}  // namespace

TEST(TrainStepCompiled, AnUpdateGoesInPlaceOnlyWhenNothingReadsTheOldValueLater) {
  // The old value is read after the update: it must stay, so the update is copied back.
  auto read_after = labelled_step([](const TensorList& in) {
    Tensor updated = add(mul(in[0], Scalar(0.5)), in[1]);
    Tensor later = mul(in[0], Scalar(2.0));
    return TensorList{updated, later};
  });
  // Read before: the update can overwrite it.
  auto read_before = labelled_step([](const TensorList& in) {
    Tensor earlier = mul(in[0], Scalar(2.0));
    Tensor updated = add(mul(in[0], Scalar(0.5)), in[1]);
    return TensorList{updated, earlier};
  });
  for (auto* step : {&read_after, &read_before}) {
    int64_t in_place = -1;
    auto [w, other] = run_labelled(*step, &in_place);
    EXPECT_EQ(in_place, step == &read_before ? 1 : 0);
    for (size_t i = 0; i < w.size(); ++i) {
      const float old = static_cast<float>(i + 1);
      ASSERT_EQ(w[i], old * 0.5f + 0.5f) << i;
      ASSERT_EQ(other[i], old * 2.0f) << i;
    }
  }
}
