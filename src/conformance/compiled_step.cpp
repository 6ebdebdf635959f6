#include "conformance/compiled_step.h"

#include "conformance/runner.h"

#include <algorithm>
#include <cmath>

#include "aotgrad/autograd.h"
#include "aotgrad/export.h"
#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "support/error.h"

namespace aotgrad::conformance {

namespace {
struct StepResult {
  TensorList outputs;
  nn::NamedTensors grads;  // parameters, then inputs that require grad ("input 0")
  nn::NamedTensors buffers;
};

TensorList leaves_of(const pytree::Value& v) {
  TensorList out;
  for (const IValue& leaf : pytree::flatten(v).first)
    if (leaf.is_tensor()) out.push_back(leaf.to_tensor());
  return out;
}

// Forward with `run`, then backward seeded with ones for every floating output.
StepResult step(models::Instance& inst,
                const std::function<pytree::Value(nn::Module&, const nn::Args&, const nn::Kwargs&)>& run) {
  StepResult r;
  r.outputs = leaves_of(run(*inst.module, inst.example.args, inst.example.kwargs));
  TensorList roots, seeds;
  for (const Tensor& o : r.outputs) {
    if (!o.requires_grad()) continue;
    roots.push_back(o);
    seeds.push_back(ones_like(o));
  }
  if (!roots.empty()) autograd::backward(roots, seeds);
  for (const auto& [name, p] : inst.module->named_parameters()) r.grads.emplace_back("grad '" + name + "'", p.grad());
  TensorList inputs = leaves_of(
      pytree::Value::tuple({pytree::Value::tuple(inst.example.args), pytree::Value::dict(inst.example.kwargs)}));
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].requires_grad()) r.grads.emplace_back("grad of input " + std::to_string(i), inputs[i].grad());
  for (const auto& [name, b] : inst.module->named_buffers()) r.buffers.emplace_back("buffer '" + name + "'", b);
  return r;
}

TensorDiff diff(const std::string& what, const Tensor& got, const Tensor& want, double rtol, double atol) {
  if (!got.defined() || !want.defined()) {
    const bool same = got.defined() == want.defined();
    return {what, same ? 0.0 : INFINITY, same};
  }
  TensorDiff d{what, 0, true};
  d.ok = !compare_tensors(what, got, want, rtol, atol, &d.max_abs_diff).has_value();
  if (!d.ok && got.sizes() != want.sizes()) d.max_abs_diff = INFINITY;
  return d;
}
}  // namespace

namespace {
void compare_results(StepComparison& c, const StepResult& got, const StepResult& want, double rtol, double atol) {
  c.passed = true;
  auto compare = [&](const char* kind, const nn::NamedTensors& g, const nn::NamedTensors& w) {
    if (g.size() != w.size()) {
      c.passed = false;
      c.problem = fmt::format("the compiled step gives {} {}, eager {}", g.size(), kind, w.size());
      return;
    }
    for (size_t i = 0; i < g.size(); ++i) {
      c.diffs.push_back(diff(w[i].first, g[i].second, w[i].second, rtol, atol));
      c.passed = c.passed && c.diffs.back().ok;
    }
  };
  nn::NamedTensors go, wo;
  for (size_t i = 0; i < got.outputs.size(); ++i) go.emplace_back("output " + std::to_string(i), got.outputs[i]);
  for (size_t i = 0; i < want.outputs.size(); ++i) wo.emplace_back("output " + std::to_string(i), want.outputs[i]);
  compare("outputs", go, wo);
  compare("gradients", got.grads, want.grads);
  compare("buffers", got.buffers, want.buffers);
}

// Each input tensor of the example copied (the steps write gradients into them).
models::Example fresh_copy(const models::Example& e) {
  auto [leaves, spec] =
      pytree::flatten(pytree::Value::tuple({pytree::Value::tuple(e.args), pytree::Value::dict(e.kwargs)}));
  for (IValue& leaf : leaves)
    if (leaf.is_tensor()) {
      const Tensor& t = leaf.to_tensor();
      Tensor copy = clone(t).detach();
      leaf = IValue(copy.set_requires_grad(t.requires_grad()));
    }
  pytree::Value call = pytree::unflatten(leaves, spec);
  return {call[0].items(), call[1].entries()};
}
}  // namespace

StepComparison compare_compiled_step(const models::ModelInfo& info, const compile::CompileOptions& options,
                                     bool decompose, double rtol, double atol) {
  StepComparison c;
  models::Instance eager = models::instantiate(info), compiled = models::instantiate(info);
  StepResult want = step(eager, [](nn::Module& m, const nn::Args& a, const nn::Kwargs& k) { return m(a, k); });
  StepResult got = step(compiled, [&](nn::Module& m, const nn::Args& a, const nn::Kwargs& k) {
    exporting::ExportOptions export_options;
    if (decompose) export_options.decompositions = trace::DecompositionTable::core();
    auto joint = exporting::aot_export_joint_with_descriptors(m, a, k, export_options);
    compile::CompiledFunction f = compile::aot_compile_joint_with_descriptors(joint, options);
    c.compile_ms = f.compile_ms();
    c.forward = f.forward_stats();
    c.backward = f.backward_stats();
    return f.call_module(m, a, k);
  });
  compare_results(c, got, want, rtol, atol);
  return c;
}

StepComparison compare_compiled_step_at(const models::ModelInfo& info, const compile::CompiledFunction& f,
                                        const models::Example& inputs, double rtol, double atol) {
  StepComparison c;
  models::Instance eager = models::instantiate(info), compiled = models::instantiate(info);
  eager.example = fresh_copy(inputs);
  compiled.example = fresh_copy(inputs);
  StepResult want = step(eager, [](nn::Module& m, const nn::Args& a, const nn::Kwargs& k) { return m(a, k); });
  StepResult got =
      step(compiled, [&](nn::Module& m, const nn::Args& a, const nn::Kwargs& k) { return f.call_module(m, a, k); });
  c.compile_ms = f.last_size_compile_ms();
  compare_results(c, got, want, rtol, atol);
  return c;
}

models::Example resized_example(const models::Example& example, const std::vector<exporting::DynamicDim>& dims,
                                int64_t size, uint64_t seed) {
  manual_seed(seed);
  models::Example out = example;
  auto [leaves, spec] =
      pytree::flatten(pytree::Value::tuple({pytree::Value::tuple(example.args), pytree::Value::dict(example.kwargs)}));
  for (size_t i = 0; i < leaves.size(); ++i) {
    const Tensor t = leaves[i].to_tensor();
    Shape sizes = t.sizes();
    for (const exporting::DynamicDim& d : dims)
      if (static_cast<size_t>(d.input) == i && d.dim < t.dim()) sizes[static_cast<size_t>(d.dim)] = size;
    if (sizes == t.sizes()) continue;
    Tensor n;
    if (t.is_floating_point()) {
      n = to(randn(sizes), t.dtype());
    } else {
      const std::vector<int64_t> v = t.to_vector<int64_t>();
      const int64_t lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
      n = to(randint(lo, hi + 1, sizes), t.dtype());
    }
    n.set_requires_grad(t.requires_grad());
    leaves[i] = IValue(n);
  }
  pytree::Value call = pytree::unflatten(leaves, spec);
  out.args = call[0].items();
  out.kwargs = call[1].entries();
  return out;
}

}  // namespace aotgrad::conformance
