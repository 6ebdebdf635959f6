#include "conformance/runner.h"

#include <algorithm>
#include <cmath>

#include <filesystem>
#include <functional>
#include <set>

#include "aotgrad/autograd.h"
#include "aotgrad/compile.h"
#include "aotgrad/export.h"
#include "aotgrad/models.h"
#include "aotgrad/ops.h"
#include "ops/registry.h"
#include "support/error.h"

namespace aotgrad::conformance {

static const models::ModelInfo* model_for(const std::string& name) {
  for (const auto& m : models::all_models())
    if (m.name == name) return &m;
  return nullptr;
}

std::string onnx_file_path(const std::string& case_file) {
  std::filesystem::path p(case_file);
  return (p.parent_path() / "onnx" / (p.stem().string() + ".onnx")).string();
}

std::string onnx_file_for(const std::string& case_file) {
  std::string path = onnx_file_path(case_file);
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) ? path : "";
}

bool has_builtin_model(const std::string& case_file) {
  return model_for(std::filesystem::path(case_file).stem().string()) != nullptr;
}

static Tensor fresh_input(const GoldenInput& in) {
  Tensor t = clone(in.value);
  if (in.requires_grad) t.set_requires_grad(true);
  return t;
}

std::optional<std::string> compare_tensors(const std::string& what, const Tensor& got, const Tensor& want, double rtol,
                                           double atol, double* max_err) {
  if (!got.defined()) return fmt::format("{}: got no tensor, expected {}", what, want.describe());
  if (got.sizes() != want.sizes())
    return fmt::format("{}: got shape {}, expected {}", what, got.describe(), want.describe());
  const bool floating = want.is_floating_point();
  if (floating != got.is_floating_point() && !(want.dtype() == DType::Bool))
    return fmt::format("{}: got dtype {}, expected {}", what, got.describe(), want.describe());
  std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  // The first mismatch is reported; the scan goes on so that max_err covers every element.
  std::optional<std::string> first;
  for (size_t i = 0; i < g.size(); ++i) {
    const double err = std::abs(g[i] - w[i]);
    if (max_err && err > *max_err) *max_err = err;
    const bool ok = floating ? err <= atol + rtol * std::abs(w[i]) : g[i] == w[i];
    if (!first && (!ok || std::isnan(g[i]) != std::isnan(w[i])))
      first = fmt::format("{}: element {} is {:.9g}, expected {:.9g} (|diff| {:.3g}, tolerance {:.3g})", what, i, g[i],
                          w[i], err, floating ? atol + rtol * std::abs(w[i]) : 0.0);
  }
  if (first) return first;
  return std::nullopt;
}

// The case's parameters and buffers. An imported model has only the tensors its file
// has (no num_batches_tracked: exporters drop it).
static nn::NamedTensors case_state(const GoldenCase& c, const nn::Module& module, bool imported) {
  nn::NamedTensors state = c.params;
  state.insert(state.end(), c.buffers.begin(), c.buffers.end());
  if (!imported) return state;
  nn::NamedTensors have = module.state_dict(), kept;
  for (const auto& entry : state)
    for (const auto& [name, t] : have)
      if (name == entry.first) kept.push_back(entry);
  return kept;
}

// What every check of a case starts from: its model, instantiated and in the case's
// mode, and fresh copies of its inputs (marked requires_grad as the case says).
struct CaseSetup {
  const models::ModelInfo* info = nullptr;
  bool imported = false;  // an ONNX file's module: only the tensors the file has
  models::Instance instance;
  nn::Args args;
  nn::Kwargs kwargs;
};

// The case's setup, or why it cannot run.
static std::optional<CaseSetup> set_up(const GoldenCase& c, const models::ModelInfo* model, std::string& why) {
  CaseSetup s;
  s.info = model ? model : model_for(c.name);
  if (!s.info) {
    why = fmt::format("no built-in model named '{}' (the case's module is not built in)", c.name);
    return std::nullopt;
  }
  s.imported = s.info->kind == models::Kind::Imported;
  s.instance = models::instantiate(*s.info);
  s.instance.module->train(c.train_mode);
  for (const GoldenInput& in : c.inputs) s.args.emplace_back(fresh_input(in));
  for (const auto& [key, in] : c.kwargs) s.kwargs.emplace_back(key, pytree::Value(fresh_input(in)));
  return s;
}

// What a step is differentiated with respect to, in the grads' key space:
// parameters, then inputs and kwargs that need grad.
struct GradTargets {
  TensorList wrt;
  std::vector<std::string> keys;
};

static GradTargets grad_targets(const GoldenCase& c, const CaseSetup& s) {
  GradTargets t;
  for (auto& [name, p] : s.instance.module->named_parameters()) {
    t.wrt.push_back(p);
    t.keys.push_back(name);
  }
  for (size_t i = 0; i < c.inputs.size(); ++i)
    if (c.inputs[i].requires_grad) {
      t.wrt.push_back(s.args[i].tensor());
      t.keys.push_back(c.inputs[i].name);
    }
  for (size_t i = 0; i < c.kwargs.size(); ++i)
    if (c.kwargs[i].second.requires_grad) {
      t.wrt.push_back(s.kwargs[i].second.tensor());
      t.keys.push_back(c.kwargs[i].second.name);
    }
  return t;
}

static std::optional<std::string> compare_outputs(const GoldenCase& c, const pytree::Value& result, TensorList& outs,
                                                  double* max_err) {
  for (const IValue& leaf : pytree::flatten(result).first) {
    if (!leaf.is_tensor()) return "the model returned a non-tensor leaf";
    outs.push_back(leaf.to_tensor());
  }
  if (outs.size() != c.outputs.size())
    return fmt::format("the model returned {} outputs, the case has {}", outs.size(), c.outputs.size());
  for (size_t i = 0; i < outs.size(); ++i)
    if (auto e = compare_tensors(fmt::format("output {}", i), outs[i], c.outputs[i], c.rtol, c.atol, max_err)) return e;
  return std::nullopt;
}

static std::optional<std::string> compare_buffers(const GoldenCase& c, const nn::Module& module, double* max_err) {
  nn::NamedTensors buffers = module.named_buffers();
  for (const auto& [name, want] : c.buffers_after) {
    const Tensor* got = nullptr;
    for (const auto& [n, b] : buffers)
      if (n == name) got = &b;
    if (!got) return fmt::format("buffer '{}' is not registered by the model", name);
    if (auto e = compare_tensors("buffer '" + name + "'", *got, want, c.rtol, c.atol, max_err)) return e;
  }
  return std::nullopt;
}

static std::optional<std::string> compare_grads(const GoldenCase& c, const GradTargets& targets,
                                                const TensorList& grads, double* max_err) {
  for (size_t i = 0; i < targets.wrt.size(); ++i) {
    const Tensor* want = nullptr;
    for (const auto& [key, g] : c.grads)
      if (key == targets.keys[i]) want = &g;
    if (!want) {
      if (grads[i].defined()) return fmt::format("grad '{}': the case has none", targets.keys[i]);
      continue;
    }
    if (auto e = compare_tensors("grad '" + targets.keys[i] + "'", grads[i], *want, c.rtol, c.atol, max_err)) return e;
  }
  for (const auto& [key, g] : c.grads)
    if (std::find(targets.keys.begin(), targets.keys.end(), key) == targets.keys.end())
      return fmt::format("grad '{}': expected by the case, not computed", key);
  return std::nullopt;
}

using StepFn = std::function<pytree::Value(nn::Module&, const nn::Args&, const nn::Kwargs&)>;

// Loads the case into its model, runs `step` (the forward) on the case's inputs, then
// backward with the case's tangents, and compares outputs, buffers and gradients.
static CaseResult check_step(const GoldenCase& c, const StepFn& step, const models::ModelInfo* model) {
  CaseResult r{c.name, false, ""};
  std::optional<CaseSetup> s = set_up(c, model, r.detail);
  if (!s) return r;
  nn::Module& module = *s->instance.module;
  module.load_state_dict(case_state(c, module, s->imported), /*strict=*/!s->imported);
  const GradTargets targets = grad_targets(c, *s);

  double max_err = 0;
  auto fail = [&](std::string why) {
    r.detail = std::move(why);
    return r;
  };
  pytree::Value result;
  try {
    result = step(module, s->args, s->kwargs);
  } catch (const Error& e) {
    return fail(e.what());
  }
  TensorList outs;
  if (auto e = compare_outputs(c, result, outs, &max_err)) return fail(*e);
  if (!s->imported)
    if (auto e = compare_buffers(c, module, &max_err)) return fail(*e);
  TensorList grads = autograd::grad(outs, targets.wrt, c.tangents, /*allow_unused=*/true);
  if (auto e = compare_grads(c, targets, grads, &max_err)) return fail(*e);
  r.passed = true;
  r.detail = fmt::format("max |err| {:.2g} (atol {:.2g})", max_err, c.atol);
  return r;
}

CaseResult check_eager(const GoldenCase& c, const models::ModelInfo* model) {
  return check_step(
      c, [](nn::Module& m, const nn::Args& args, const nn::Kwargs& kwargs) { return m(args, kwargs); }, model);
}

CaseResult check_compiled(const GoldenCase& c, const compile::CompileOptions& options, const models::ModelInfo* model) {
  return check_step(
      c,
      [&](nn::Module& m, const nn::Args& args, const nn::Kwargs& kwargs) {
        auto joint = exporting::aot_export_joint_with_descriptors(m, args, kwargs);
        return compile::aot_compile_joint_with_descriptors(joint, options).call_module(m, args, kwargs);
      },
      model);
}

}  // namespace aotgrad::conformance

namespace aotgrad::conformance {

namespace {

// "aten.logical_and_.default" -> "aten.logical_and.default": the exported graph is
// functional, so an in-place op of the golden list appears in its out-of-place form.
std::string functional_target(const std::string& target) {
  size_t last = target.rfind('.'), prev = target.rfind('.', last - 1);
  if (last == std::string::npos || prev == std::string::npos) return target;
  std::string op = target.substr(prev + 1, last - prev - 1);
  if (op.size() > 1 && op.back() == '_' && op[op.size() - 2] != '_') {
    return target.substr(0, prev + 1) + op.substr(0, op.size() - 1) + target.substr(last);
  }
  return target;
}

std::string functional_name(const std::string& name, const std::string& target) {
  std::string ft = functional_target(target);
  if (ft == target) return name;
  size_t last = target.rfind('.'), prev = target.rfind('.', last - 1);
  std::string op = target.substr(prev + 1, last - prev - 1);  // "logical_and_"
  if (name.rfind(op, 0) == 0) return op.substr(0, op.size() - 1) + name.substr(op.size());
  return name;
}
}  // namespace

bool joint_graph_matches_golden(const std::string& case_name) {
  static const std::set<std::string> cases = {"simple_linear",  "module_with_kwargs", "multi_output",
                                              "two_linear_sub", "annotated_square",   "mlp_relu_ce",
                                              "ops_elementwise"};
  return cases.count(case_name) > 0;
}

std::optional<std::string> compare_node_lists(const graph::GraphModule& gm, const std::vector<GoldenNode>& want) {
  // The golden lists leave out PyTorch's detach nodes (their number varies between
  // PyTorch builds; tests/goldens/README.md); ours are left out the same way.
  std::vector<const graph::Node*> ours;
  for (const auto& n : gm.graph->nodes())
    if (n->op() == graph::NodeOp::CallFunction &&
        !(n->target().kind == graph::Target::Kind::Op && n->target().op->id == ops::OpId::detach))
      ours.push_back(n.get());
  if (want.empty()) return "the golden case has no joint_aten node list";
  for (size_t i = 0; i < std::max(ours.size(), want.size()); ++i) {
    if (i >= ours.size())
      return fmt::format("node {}: the graph ends, the golden list continues with {}", i, want[i].name);
    if (i >= want.size()) return fmt::format("node {}: '{}' is not in the golden list", i, ours[i]->name());
    const graph::Node& n = *ours[i];
    const std::string& target = want[i].target;
    const std::string name = functional_name(want[i].name, target);
    std::string got_target = n.target().kind == graph::Target::Kind::Op        ? n.target().op->schema.dotted_name()
                             : n.target().kind == graph::Target::Kind::GetItem ? "operator.getitem"
                                                                               : n.target().qualified();
    std::string got_shape =
        n.meta.val.kind == graph::FakeVal::Kind::Tensor ? shape_str(n.meta.val.as_tensor().sizes) : "None";
    std::string want_shape = want[i].shape ? shape_str(*want[i].shape) : "None";
    if (n.name() != name || got_target != functional_target(target) || got_shape != want_shape)
      return fmt::format("node {}: got {} = {} {}, golden has {} = {} {}", i, n.name(), got_target, got_shape, name,
                         functional_target(target), want_shape);
  }
  return std::nullopt;
}

static Tensor named(const nn::NamedTensors& list, const std::string& name) {
  for (const auto& [n, t] : list)
    if (n == name) return t;
  AG_FAIL("the case has no value for '{}'", name);
}

// The case's values for the joint's inputs: parameters and buffers by name, then
// inputs and kwargs, then the tangents of the outputs that got one. Returns what is
// missing, if anything.
static std::optional<std::string> joint_inputs(const GoldenCase& c, const exporting::JointWithDescriptors& joint,
                                               std::vector<IValue>& inputs) {
  for (const auto& name : joint.params_spec) inputs.emplace_back(named(c.params, name));
  for (const auto& name : joint.buffers_spec) inputs.emplace_back(clone(named(c.buffers, name)));
  for (const GoldenInput& in : c.inputs) inputs.emplace_back(in.value);
  for (const auto& [key, in] : c.kwargs) inputs.emplace_back(in.value);
  for (const graph::Node* p : joint.graph_module->graph->placeholders()) {
    if (p->meta.desc->kind() != Descriptor::Kind::TangentInput) continue;
    const Descriptor& of = p->meta.desc->inner();
    if (of.kind() != Descriptor::Kind::PlainOutput || of.idx() >= static_cast<int64_t>(c.tangents.size()))
      return "a tangent for " + of.str() + " has no counterpart in the case";
    inputs.emplace_back(c.tangents[static_cast<size_t>(of.idx())]);
  }
  return std::nullopt;
}

// The joint's outputs against the case, by descriptor: user outputs, buffer updates
// and gradients (counted in `grads_seen`).
static std::optional<std::string> compare_joint_outputs(const GoldenCase& c,
                                                        const exporting::JointWithDescriptors& joint,
                                                        const std::vector<IValue>& outs, bool imported,
                                                        size_t& grads_seen, double* max_err) {
  const auto& descs = exporting::output_descriptors(*joint.graph_module);
  std::vector<std::string> primal_keys = joint.params_spec;
  primal_keys.insert(primal_keys.end(), joint.buffers_spec.begin(), joint.buffers_spec.end());
  for (const GoldenInput& in : c.inputs) primal_keys.push_back(in.name);
  for (const auto& [key, in] : c.kwargs) primal_keys.push_back(in.name);
  for (size_t i = 0; i < outs.size(); ++i) {
    if (!descs[i]) continue;
    const Descriptor& d = *descs[i];
    const Tensor got = outs[i].to_tensor();
    std::optional<std::string> e;
    switch (d.kind()) {
      case Descriptor::Kind::PlainOutput:
        if (d.idx() < 0 || d.idx() >= static_cast<int64_t>(c.outputs.size())) {
          e = fmt::format("the graph has output {}, the case has {} outputs", d.idx(), c.outputs.size());
          break;
        }
        e = compare_tensors(fmt::format("joint output {}", d.idx()), got, c.outputs[static_cast<size_t>(d.idx())],
                            c.rtol, c.atol, max_err);
        break;
      case Descriptor::Kind::InputMutationOutput:
        if (imported) break;  // ONNX's running_var update differs from PyTorch's (docs/ONNX.md)
        e = compare_tensors("joint buffer update '" + d.inner().target() + "'", got,
                            named(c.buffers_after, d.inner().target()), c.rtol, c.atol, max_err);
        break;
      case Descriptor::Kind::GradOutput: {
        std::string key = d.inner().kind() == Descriptor::Kind::PlainInput
                              ? primal_keys[joint.params_spec.size() + joint.buffers_spec.size() +
                                            static_cast<size_t>(d.inner().idx())]
                              : d.inner().target();
        e = compare_tensors("joint grad '" + key + "'", got, named(c.grads, key), c.rtol, c.atol, max_err);
        ++grads_seen;
        break;
      }
      default:
        break;
    }
    if (e) return e;
  }
  return std::nullopt;
}

CaseResult check_joint(const GoldenCase& c, bool decompose, const models::ModelInfo* model) {
  CaseResult r{c.name, false, ""};
  std::optional<CaseSetup> s = set_up(c, model, r.detail);
  if (!s) return r;
  const bool imported = s->imported;
  // Export with the case's inputs as the example (their shapes and requires_grad).
  exporting::JointWithDescriptors joint;
  try {
    exporting::ExportOptions options;
    if (decompose) options.decompositions = trace::DecompositionTable::core();
    joint = exporting::aot_export_joint_with_descriptors(*s->instance.module, s->args, s->kwargs, options);
  } catch (const Error& e) {
    r.detail = std::string("export failed: ") + e.what();
    return r;
  }
  const bool compare_nodes = !decompose && !imported && joint_graph_matches_golden(c.name);
  if (compare_nodes) {
    if (auto diff = compare_node_lists(*joint.graph_module, c.joint_aten)) {
      r.detail = "graph differs from joint_aten: " + *diff;
      return r;
    }
  }
  std::vector<IValue> inputs;
  if (auto missing = joint_inputs(c, joint, inputs)) {
    r.detail = *missing;
    return r;
  }
  std::vector<IValue> outs;
  {
    autograd::NoGradGuard no_grad;
    outs = graph::interpret(*joint.graph_module, inputs);
  }
  double max_err = 0;
  size_t grads_seen = 0;
  if (auto e = compare_joint_outputs(c, joint, outs, imported, grads_seen, &max_err)) {
    r.detail = *e;
    return r;
  }
  if (grads_seen != c.grads.size()) {
    r.detail = fmt::format("the joint graph returns {} gradients, the case has {}", grads_seen, c.grads.size());
    return r;
  }
  r.passed = true;
  r.detail = fmt::format("max |err| {:.2g}{}", max_err, compare_nodes ? ", nodes = joint_aten" : "");
  return r;
}

}  // namespace aotgrad::conformance
