#include "conformance/runner.h"

#include <cmath>

#include "aotgrad/autograd.h"
#include "aotgrad/models.h"
#include "aotgrad/ops.h"
#include "support/error.h"

namespace aotgrad::conformance {

std::optional<std::string> compare_tensors(const std::string& what, const Tensor& got,
                                           const Tensor& want, double rtol, double atol,
                                           double* max_err) {
  if (!got.defined()) return fmt::format("{}: got no tensor, expected {}", what, want.describe());
  if (got.sizes() != want.sizes())
    return fmt::format("{}: got shape {}, expected {}", what, got.describe(), want.describe());
  const bool floating = want.is_floating_point();
  if (floating != got.is_floating_point() && !(want.dtype() == DType::Bool))
    return fmt::format("{}: got dtype {}, expected {}", what, got.describe(), want.describe());
  std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i) {
    const double err = std::abs(g[i] - w[i]);
    if (max_err && err > *max_err) *max_err = err;
    const bool ok = floating ? err <= atol + rtol * std::abs(w[i]) : g[i] == w[i];
    if (!ok || std::isnan(g[i]) != std::isnan(w[i]))
      return fmt::format("{}: element {} is {:.9g}, expected {:.9g} (|diff| {:.3g}, tolerance {:.3g})",
                         what, i, g[i], w[i], err, floating ? atol + rtol * std::abs(w[i]) : 0.0);
  }
  return std::nullopt;
}

namespace {
Tensor fresh_input(const GoldenInput& in) {
  Tensor t = clone(in.value);
  if (in.requires_grad) t.set_requires_grad(true);
  return t;
}
}  // namespace

CaseResult check_eager(const GoldenCase& c) {
  CaseResult r{c.name, false, ""};
  const models::ModelInfo* info = nullptr;
  for (const auto& m : models::all_models())
    if (m.name == c.name) info = &m;
  if (!info) {
    r.detail = fmt::format("no built-in model named '{}' (the case's module is not built in)", c.name);
    return r;
  }
  models::Instance inst = models::instantiate(*info);
  nn::Module& module = *inst.module;
  module.train(c.train_mode);
  nn::NamedTensors state = c.params;
  state.insert(state.end(), c.buffers.begin(), c.buffers.end());
  module.load_state_dict(state);

  // Inputs, in the grads' key space: parameters, then inputs and kwargs that need grad.
  nn::Args args;
  nn::Kwargs kwargs;
  TensorList wrt;
  std::vector<std::string> wrt_keys;
  for (auto& [name, p] : module.named_parameters()) {
    wrt.push_back(p);
    wrt_keys.push_back(name);
  }
  for (const GoldenInput& in : c.inputs) {
    Tensor t = fresh_input(in);
    args.emplace_back(t);
    if (in.requires_grad) {
      wrt.push_back(t);
      wrt_keys.push_back(in.name);
    }
  }
  for (const auto& [key, in] : c.kwargs) {
    Tensor t = fresh_input(in);
    kwargs.emplace_back(key, pytree::Value(t));
    if (in.requires_grad) {
      wrt.push_back(t);
      wrt_keys.push_back(in.name);
    }
  }

  double max_err = 0;
  auto fail = [&](std::string why) {
    r.detail = std::move(why);
    return r;
  };
  auto [leaves, spec] = pytree::flatten(module(args, kwargs));
  TensorList outs;
  for (const IValue& leaf : leaves) {
    if (!leaf.is_tensor()) return fail("the model returned a non-tensor leaf");
    outs.push_back(leaf.to_tensor());
  }
  if (outs.size() != c.outputs.size())
    return fail(fmt::format("the model returned {} outputs, the case has {}", outs.size(),
                            c.outputs.size()));
  for (size_t i = 0; i < outs.size(); ++i)
    if (auto e = compare_tensors(fmt::format("output {}", i), outs[i], c.outputs[i], c.rtol, c.atol,
                                 &max_err))
      return fail(*e);

  nn::NamedTensors buffers = module.named_buffers();
  for (const auto& [name, want] : c.buffers_after) {
    const Tensor* got = nullptr;
    for (const auto& [n, b] : buffers)
      if (n == name) got = &b;
    if (!got) return fail(fmt::format("buffer '{}' is not registered by the model", name));
    if (auto e = compare_tensors("buffer '" + name + "'", *got, want, c.rtol, c.atol, &max_err))
      return fail(*e);
  }

  TensorList grads = autograd::grad(outs, wrt, c.tangents, /*allow_unused=*/true);
  for (size_t i = 0; i < wrt.size(); ++i) {
    const Tensor* want = nullptr;
    for (const auto& [key, g] : c.grads)
      if (key == wrt_keys[i]) want = &g;
    if (!want) {
      if (grads[i].defined()) return fail(fmt::format("grad '{}': the case has none", wrt_keys[i]));
      continue;
    }
    if (auto e = compare_tensors("grad '" + wrt_keys[i] + "'", grads[i], *want, c.rtol, c.atol,
                                 &max_err))
      return fail(*e);
  }
  for (const auto& [key, g] : c.grads) {
    bool found = false;
    for (const auto& k : wrt_keys) found = found || k == key;
    if (!found) return fail(fmt::format("grad '{}': expected by the case, not computed", key));
  }
  r.passed = true;
  r.detail = fmt::format("max |err| {:.2g} (atol {:.2g})", max_err, c.atol);
  return r;
}

}  // namespace aotgrad::conformance
