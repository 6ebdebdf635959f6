// aot_compile_joint_with_descriptors: the compiled step equals eager on every
// built-in model, under both partition policies; the calling convention, autograd
// wiring and input checks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "aotgrad/autograd.h"
#include "aotgrad/compile.h"
#include "aotgrad/export.h"
#include "aotgrad/models.h"
#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "aotgrad/trace.h"
#include "compile/program.h"
#include "compile/straight_line.h"
#include "conformance/compiled_step.h"
#include "test_util.h"

using namespace aotgrad;
using aotgrad::testing::error_of;

namespace {
std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto& m : models::all_models()) names.push_back(m.name);
  return names;
}

std::string failures(const conformance::StepComparison& c) {
  std::string out = c.problem;
  for (const auto& d : c.diffs)
    if (!d.ok) out += d.what + " differs by " + std::to_string(d.max_abs_diff) + "; ";
  return out;
}

compile::CompileOptions with(partition::Policy policy, bool fuse = true, bool reuse = true) {
  compile::CompileOptions o;
  o.partition.policy = policy;
  o.fuse_pointwise = fuse;
  o.fuse_epilogues = fuse;
  o.reuse_buffers = reuse;
  return o;
}

struct Compiled {
  models::Instance inst;
  exporting::JointWithDescriptors joint;
  compile::CompiledFunction fn;
};
Compiled compile_model(const std::string& name, const compile::CompileOptions& options = {}) {
  models::Instance inst = models::instantiate(models::find_model(name));
  auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs);
  auto fn = compile::aot_compile_joint_with_descriptors(joint, options);
  return {std::move(inst), std::move(joint), std::move(fn)};
}
}  // namespace

class CompiledModel : public ::testing::TestWithParam<std::string> {};

TEST_P(CompiledModel, SaveAllStepEqualsEager) {
  auto c = conformance::compare_compiled_step(models::find_model(GetParam()), with(partition::Policy::SaveAll));
  EXPECT_TRUE(c.passed) << failures(c);
  EXPECT_FALSE(c.diffs.empty());
}

TEST_P(CompiledModel, MinCutStepEqualsEager) {
  auto c = conformance::compare_compiled_step(models::find_model(GetParam()), with(partition::Policy::MinCut));
  EXPECT_TRUE(c.passed) << failures(c);
}

TEST_P(CompiledModel, UnfusedUnsharedStepEqualsEager) {
  auto c = conformance::compare_compiled_step(models::find_model(GetParam()),
                                              with(partition::Policy::SaveAll, false, false));
  EXPECT_TRUE(c.passed) << failures(c);
}

// The decomposed (prims) graphs: long elementwise chains, which the fusion pass
// turns into loops; eager is compared at a float32 reduction's tolerance.
TEST_P(CompiledModel, DecomposedStepEqualsEager) {
  auto c = conformance::compare_compiled_step(models::find_model(GetParam()), with(partition::Policy::SaveAll), true,
                                              1e-3, 1e-4);
  EXPECT_TRUE(c.passed) << failures(c);
}

INSTANTIATE_TEST_SUITE_P(Models, CompiledModel, ::testing::ValuesIn(model_names()),
                         [](const auto& info) { return info.param; });

TEST(Compile, SumBackwardFillsParameterGradsLikeEager) {
  Compiled c = compile_model("simple_linear");
  models::Instance eager = models::instantiate(models::find_model("simple_linear"));
  nn::Args args = c.inst.example.args;
  Tensor y = c.fn.call_module(*c.inst.module, args).tensor();
  ASSERT_TRUE(y.requires_grad());
  autograd::backward(sum(y));
  autograd::backward(sum((*eager.module)(eager.example.args).tensor()));
  auto got = c.inst.module->named_parameters(), want = eager.module->named_parameters();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(got[i].second.grad().defined()) << got[i].first;
    EXPECT_EQ(got[i].second.grad().to_vector<float>(), want[i].second.grad().to_vector<float>()) << got[i].first;
  }
}

TEST(Compile, ExplicitParametersThenInputs) {
  // The standard convention: parameters…, buffers…, user args….
  Compiled c = compile_model("simple_linear");
  nn::Args all;
  for (const auto& [name, p] : c.inst.module->named_parameters()) all.emplace_back(p);
  for (const auto& a : c.inst.example.args) all.push_back(a);
  Tensor y = c.fn(all).tensor();
  Tensor want = (*c.inst.module)(c.inst.example.args).tensor();
  EXPECT_EQ(y.to_vector<float>(), want.to_vector<float>());
}

TEST(Compile, TheBackwardOutlivesTheCompiledFunction) {
  models::Instance inst = models::instantiate(models::find_model("mlp_relu_ce"));
  Tensor loss;
  {
    auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs);
    loss = compile::aot_compile_joint_with_descriptors(joint)
               .call_module(*inst.module, inst.example.args, inst.example.kwargs)
               .tensor();
  }
  autograd::backward(loss);
  for (const auto& [name, p] : inst.module->named_parameters()) EXPECT_TRUE(p.grad().defined()) << name;
}

TEST(Compile, WithoutGradOnlyTheForwardRuns) {
  Compiled c = compile_model("simple_linear");
  autograd::NoGradGuard no_grad;
  Tensor y = c.fn.call_module(*c.inst.module, c.inst.example.args).tensor();
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.to_vector<float>(), (*c.inst.module)(c.inst.example.args).tensor().to_vector<float>());
}

TEST(Compile, BufferUpdatesAreWrittenBackIntoTheTensorsPassed) {
  Compiled c = compile_model("conv_bn");
  models::Instance eager = models::instantiate(models::find_model("conv_bn"));
  c.fn.call_module(*c.inst.module, c.inst.example.args);
  (*eager.module)(eager.example.args);
  auto got = c.inst.module->named_buffers(), want = eager.module->named_buffers();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(got[i].second.to_vector<double>(), want[i].second.to_vector<double>()) << got[i].first;
}

TEST(Compile, WrongCallsNameTheExpectedSignature) {
  Compiled c = compile_model("simple_linear");
  const std::string sig = c.fn.signature();
  EXPECT_NE(sig.find("ParamAOTInput(target='linear.weight')"), std::string::npos) << sig;
  EXPECT_NE(sig.find("PlainAOTInput(idx=0)"), std::string::npos) << sig;

  // Too few tensors.
  std::string e = error_of([&] { c.fn.call_flat({}); });
  EXPECT_NE(e.find("expected 3 tensors"), std::string::npos) << e;
  EXPECT_NE(e.find(sig), std::string::npos) << e;
  // A wrong shape names the argument and its descriptor.
  e = error_of([&] { c.fn.call_module(*c.inst.module, {randn({5, 7})}); });
  EXPECT_NE(e.find("argument 2 (PlainAOTInput(idx=0)) must be f32[4, 3], but got f32[5, 7]"), std::string::npos) << e;
  // A wrong dtype.
  e = error_of([&] { c.fn.call_module(*c.inst.module, {Tensor::zeros({4, 3}, DType::Float64)}); });
  EXPECT_NE(e.find("must be f32[4, 3], but got f64[4, 3]"), std::string::npos) << e;
  // A different argument structure.
  e = error_of([&] { c.fn.call_module(*c.inst.module, {randn({4, 3}), randn({4, 3})}); });
  EXPECT_NE(e.find("the inputs have the structure"), std::string::npos) << e;
  // Nothing the user had is touched by a failed call: the parameters keep no grad.
  for (const auto& [name, p] : c.inst.module->named_parameters()) EXPECT_FALSE(p.grad().defined()) << name;
}

TEST(Compile, NonContiguousInputsAreLaidOutAsTheGraphExpects) {
  Compiled c = compile_model("simple_linear");
  Tensor x = c.inst.example.args[0].tensor();
  Tensor xt = transpose(contiguous(transpose(x, 0, 1)), 0, 1);  // same values, column-major
  ASSERT_FALSE(xt.is_contiguous());
  autograd::NoGradGuard no_grad;
  EXPECT_EQ(c.fn.call_module(*c.inst.module, {xt}).tensor().to_vector<float>(),
            c.fn.call_module(*c.inst.module, {x}).tensor().to_vector<float>());
}

TEST(Compile, MinCutSavesStrictlyLessOnTheBenchmarkModelsWithIdenticalResults) {
  for (const char* name : {"transformer_block", "convnet"}) {
    SCOPED_TRACE(name);
    Compiled save_all = compile_model(name, with(partition::Policy::SaveAll));
    Compiled min_cut = compile_model(name, with(partition::Policy::MinCut));
    EXPECT_LT(min_cut.fn.partition().saved_activation_bytes(), save_all.fn.partition().saved_activation_bytes());
    EXPECT_FALSE(min_cut.fn.partition().recomputed.empty());
    Tensor a = save_all.fn.call_module(*save_all.inst.module, save_all.inst.example.args).tensor();
    Tensor b = min_cut.fn.call_module(*min_cut.inst.module, min_cut.inst.example.args).tensor();
    EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
    autograd::backward(a);
    autograd::backward(b);
    auto ga = save_all.inst.module->named_parameters(), gb = min_cut.inst.module->named_parameters();
    for (size_t i = 0; i < ga.size(); ++i)
      EXPECT_EQ(ga[i].second.grad().to_vector<float>(), gb[i].second.grad().to_vector<float>()) << ga[i].first;
  }
}

TEST(Compile, TheArenaIsSmallerThanItsValuesAndElementwiseOpsReuseDyingInputs) {
  Compiled c = compile_model("transformer_block");
  for (const compile::ProgramStats& s : {c.fn.forward_stats(), c.fn.backward_stats()}) {
    EXPECT_GT(s.arena_bytes, 0);
    EXPECT_LT(s.arena_bytes, s.unplanned_bytes);
    EXPECT_LE(s.kernels, s.nodes);
  }
  EXPECT_GT(c.fn.forward_stats().reused_in_place + c.fn.backward_stats().reused_in_place, 0);
}

TEST(Compile, FusedLoopsComputeWhatTheUnfusedOpsDo) {
  for (const char* name : {"layernorm_gelu", "convnet", "transformer_block", "ops_elementwise"}) {
    SCOPED_TRACE(name);
    auto run = [&](bool fuse, compile::ProgramStats* fw) {
      models::Instance inst = models::instantiate(models::find_model(name));
      exporting::ExportOptions eo;
      eo.decompositions = trace::DecompositionTable::core();
      auto joint =
          exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs, eo);
      auto fn = compile::aot_compile_joint_with_descriptors(joint, with(partition::Policy::SaveAll, fuse));
      if (fw) *fw = fn.forward_stats();
      TensorList outs;
      for (const IValue& leaf :
           pytree::flatten(fn.call_module(*inst.module, inst.example.args, inst.example.kwargs)).first)
        outs.push_back(leaf.to_tensor());
      autograd::backward(sum(outs[0]));
      for (const auto& [n, p] : inst.module->named_parameters()) outs.push_back(p.grad());
      return outs;
    };
    compile::ProgramStats fused_stats;
    TensorList fused = run(true, &fused_stats), plain = run(false, nullptr);
    EXPECT_GT(fused_stats.fused_groups, 0);
    EXPECT_LT(fused_stats.kernels, fused_stats.nodes);
    ASSERT_EQ(fused.size(), plain.size());
    for (size_t i = 0; i < fused.size(); ++i) {
      if (!plain[i].defined()) continue;
      std::vector<double> a = fused[i].to_vector<double>(), b = plain[i].to_vector<double>();
      ASSERT_EQ(a.size(), b.size());
      for (size_t k = 0; k < a.size(); ++k) ASSERT_NEAR(a[k], b[k], 1e-6 + 1e-6 * std::abs(b[k])) << "tensor " << i;
    }
  }
}

// Two clamps of different bounds on same-sized tensors: the same steps on different
// tensors, which horizontal fusion would run as one loop but for the bounds, part of
// each loop's signature.
TEST(Compile, ClampsWithDifferentBoundsStayApartInFusedLoops) {
  auto fn = [](const TensorList& x) {
    return TensorList{mul(clamp(x[0], 0.0, 1.0), x[1]), mul(clamp(x[2], -2.0, 6.0), x[3])};
  };
  compile::CompiledCallable compiled = compile::compile(fn);
  TensorList in;
  for (int i = 0; i < 4; ++i) in.push_back(mul(randn({64}), 4.0));
  TensorList got = compiled(in), want = fn(in);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].to_vector<float>(), want[i].to_vector<float>()) << i;
}

// Note [Straight-line loops]: the activations ONNX models decompose into elementwise
// steps — HardSwish, x * clamp(x / 6 + 1/2, 0, 1), and HardSigmoid — compile to loops
// the build has straight-line kernels for, which give the eager ops' bits, on values
// that include NaN, infinities, -0 and the clamp's bounds.
TEST(Compile, OnnxActivationsAreStraightLineLoopsWithTheEagerBits) {
  const std::vector<std::pair<std::string, std::function<TensorList(const TensorList&)>>> cases = {
      {"Add(p*,v) Clamp(r0,r0) Mul(p,r1) -> r2",
       [](const TensorList& x) { return TensorList{mul(x[0], clamp(add(mul(x[0], 1.0 / 6), 0.5), 0.0, 1.0))}; }},
      {"Add(p*,v) Clamp(r0,r0) -> r1",
       [](const TensorList& x) { return TensorList{clamp(add(mul(x[0], 0.2), 0.5), 0.0, 1.0)}; }}};
  Tensor x = mul(randn({4, 8, 33}), 4.0);
  float* px = x.data_ptr<float>();
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(),
                            -0.0f,
                            3.0f,
                            -3.0f,
                            2.5f,
                            -2.5f};
  for (size_t i = 0; i < std::size(specials); ++i) px[i * 97] = specials[i];
  for (const auto& [shape, fn] : cases) {
    SCOPED_TRACE(shape);
    auto program = compile::Program::build(*trace::make_fx(fn, {x}), {});
    int straight = 0;
    for (const compile::Instruction& ins : program->instructions())
      if (ins.loop != nullptr) {
        EXPECT_EQ(compile::loop_shape(*ins.loop), shape);
        straight += ins.loop->straight_line != nullptr ? 1 : 0;
      }
    EXPECT_EQ(straight, 1) << "no straight-line kernel for the activation's loop";
    const Tensor got = program->run({x})[0], want = fn({x})[0];
    ASSERT_EQ(got.numel(), want.numel());
    EXPECT_EQ(std::memcmp(got.data_ptr<float>(), want.data_ptr<float>(), sizeof(float) * got.numel()), 0);
  }
}

// Max pooling whose indices nobody reads gets no indices tensor (OpTag::
// LastOutputOptional) and pools the values alone; read, they are computed as ever.
// Planes with an infinity and a NaN take the full rule either way.
TEST(Compile, MaxPoolIndicesAreComputedOnlyWhereRead) {
  Tensor x = mul(randn({2, 20, 9, 9}), 3.0);
  float* px = x.data_ptr<float>();
  px[5] = std::numeric_limits<float>::infinity();
  px[81 * 3 + 7] = std::nanf("");
  auto values = [](const TensorList& in) {
    return TensorList{std::get<0>(max_pool2d_with_indices(in[0], {3, 3}, {2, 2}))};
  };
  auto both = [](const TensorList& in) {
    auto [y, i] = max_pool2d_with_indices(in[0], {3, 3}, {2, 2});
    return TensorList{y, i};
  };
  for (auto fn :
       {std::function<TensorList(const TensorList&)>(values), std::function<TensorList(const TensorList&)>(both)}) {
    compile::CompiledCallable compiled = compile::compile(fn);
    TensorList got = compiled({x}), want = fn({x});
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_TRUE(got[i].defined()) << "output " << i;
      const std::vector<double> g = got[i].to_vector<double>(), w = want[i].to_vector<double>();
      ASSERT_EQ(g.size(), w.size());
      for (size_t k = 0; k < g.size(); ++k)
        ASSERT_TRUE(g[k] == w[k] || (std::isnan(g[k]) && std::isnan(w[k]))) << "output " << i << " element " << k;
    }
  }
}

TEST(Compile, TransformerBlockCompilesInUnder50Milliseconds) {
  // Not a timing test of the kernels: compile latency is a design limit (a linear
  // pass per graph); a regression to seconds would show here.
  Compiled c = compile_model("transformer_block");
  EXPECT_LT(c.fn.compile_ms(), 500.0);
}

// compile(fn): compiled once per input signature, differentiable, equal to eager.
TEST(CompileFunction, CompilesOncePerSignatureAndMatchesEager) {
  auto fn = [](const TensorList& x) { return TensorList{mul(sin(x[0]), x[1]), sum(x[0])}; };
  compile::CompiledCallable compiled = compile::compile(fn);
  Tensor a = randn({3, 4}), b = randn({3, 4});
  a.set_requires_grad(true);
  TensorList got = compiled({a, b});
  TensorList want = fn({a, b});
  EXPECT_EQ(got[0].to_vector<float>(), want[0].to_vector<float>());
  EXPECT_NEAR(got[1].to_vector<double>()[0], want[1].to_vector<double>()[0], 1e-5);
  autograd::backward(sum(got[0]));
  const std::vector<float> compiled_grad = a.grad().to_vector<float>();
  a.set_grad(Tensor());
  autograd::backward(sum(want[0]));
  const std::vector<float> eager_grad = a.grad().to_vector<float>();
  ASSERT_EQ(compiled_grad.size(), eager_grad.size());
  for (size_t i = 0; i < eager_grad.size(); ++i) EXPECT_NEAR(compiled_grad[i], eager_grad[i], 1e-6);
  compiled({randn({3, 4}), randn({3, 4})});  // another signature: no grad
  compiled({a, b});                          // cached
  EXPECT_EQ(compiled.compilations(), 2);
}

// Note [Compiled functions under a trace]: a CompiledFunction called by traced code
// is traced through, not run (its program has no data to run on under a trace).
TEST(CompileFunction, ACompiledFunctionCalledInsideAnExportIsTracedThrough) {
  models::Instance inner = models::instantiate(models::find_model("simple_linear"));
  compile::CompiledFunction fn = compile::aot_compile_joint_with_descriptors(
      exporting::aot_export_joint_with_descriptors(*inner.module, inner.example.args));
  auto outer = [&](const TensorList& in) { return TensorList{fn.call_module(*inner.module, {in[0]}).tensor()}; };
  auto gm = trace::make_fx(outer, TensorList{randn({4, 3})});
  std::vector<std::string> ops;
  for (const auto& n : gm->graph->nodes())
    if (n->op() == graph::NodeOp::CallFunction) ops.push_back(n->name());
  EXPECT_EQ(ops, (std::vector<std::string>{"t", "addmm"}));  // the compiled forward, op by op
  Tensor x = randn({4, 3});
  autograd::NoGradGuard no_grad;
  EXPECT_EQ(graph::interpret(*gm, {x})[0].to_tensor().to_vector<float>(),
            (*inner.module)({pytree::Value(x)}).tensor().to_vector<float>());
}
