#include "run_graph.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "aotgrad/autograd.h"
#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "support/error.h"
#include "support/json_input.h"

namespace aotgrad::cli {

namespace {
using Kind = Descriptor::Kind;

// Inputs drawn from each placeholder's recorded shape and dtype (seeded): floats
// uniform in [-1, 1) (buffers, which hold statistics such as variances, in [0.5,
// 1.5)), integers and bools zero (a valid class index), hyperparameters 1e-3.
exporting::TrainState draw_inputs(const graph::GraphModule& gm) {
  manual_seed(0);
  exporting::TrainState s;
  for (const graph::Node* p : gm.graph->placeholders()) {
    AG_CHECK(p->meta.desc.has_value(), "run --graph: placeholder '{}' has no descriptor", p->name());
    AG_CHECK(p->meta.val.kind == graph::FakeVal::Kind::Tensor, "run --graph: placeholder '{}' records no tensor",
             p->name());
    const graph::TensorVal& v = p->meta.val.as_tensor();
    const Descriptor& d = *p->meta.desc;
    Tensor t;
    if (d.kind() == Kind::HyperparamInput)
      t = full(v.sizes, 1e-3, v.dtype);
    else if (!is_floating(v.dtype))
      t = Tensor::zeros(v.sizes, v.dtype);
    else if (d.kind() == Kind::BufferInput)
      t = uniform(v.sizes, 0.5, 1.5, v.dtype);
    else
      t = uniform(v.sizes, -1.0, 1.0, v.dtype);
    s.keys.push_back(d);
    s.values.push_back(t);
  }
  return s;
}

exporting::TrainState clone_state(const exporting::TrainState& s) {
  exporting::TrainState c;
  c.keys = s.keys;
  for (const Tensor& t : s.values) c.values.push_back(clone(t));
  return c;
}

// The PlainAOTInputs of a state, as a batch (in idx order), and the state without them.
nn::Args split_batch(exporting::TrainState& s) {
  std::vector<std::pair<int64_t, Tensor>> plain;
  exporting::TrainState rest;
  for (size_t i = 0; i < s.keys.size(); ++i) {
    if (s.keys[i].kind() == Kind::PlainInput) {
      plain.emplace_back(s.keys[i].idx(), s.values[i]);
    } else {
      rest.keys.push_back(s.keys[i]);
      rest.values.push_back(s.values[i]);
    }
  }
  std::sort(plain.begin(), plain.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  nn::Args batch;
  for (auto& [idx, t] : plain) batch.emplace_back(t);
  s = std::move(rest);
  return batch;
}

struct Comparison {
  bool ok = true;
  void add(const std::string& what, const Tensor& got, const Tensor& want) {
    if (!got.defined() || !want.defined()) {
      std::printf("%-80s %s\n", what.c_str(), got.defined() == want.defined() ? "None" : "MISSING  MISMATCH");
      ok = ok && got.defined() == want.defined();
      return;
    }
    std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
    double worst = 0;
    bool close = g.size() == w.size();
    for (size_t i = 0; close && i < g.size(); ++i) {
      const double diff = std::abs(g[i] - w[i]);
      worst = std::max(worst, diff);
      close = diff <= 1e-5 + 1e-4 * std::abs(w[i]) || (std::isnan(g[i]) && std::isnan(w[i]));
    }
    std::printf("%-80.80s %12.3g%s\n", what.c_str(), worst, close ? "" : "  MISMATCH");
    ok = ok && close;
  }
};

// A joint graph's compiled outputs, written buffers and gradients against the
// interpreter's on the same inputs.
Comparison compare_joint(const graph::GraphModule& gm, const exporting::TrainState& inputs, TensorList& primals,
                         const TensorList& tangents, const TensorList& outs) {
  // The interpreter on the same inputs gives every output of the joint graph.
  std::vector<IValue> in;
  for (const Tensor& t : inputs.values) in.emplace_back(clone(t));
  std::vector<IValue> want;
  {
    autograd::NoGradGuard no_grad;
    want = graph::interpret(gm, in);
  }
  const auto& descs = exporting::output_descriptors(gm);
  Comparison c;
  std::printf("%-80s %12s\n", "compiled vs interpreted", "max |diff|");
  size_t plain = 0;
  for (size_t i = 0; i < descs.size(); ++i)
    if (descs[i] && descs[i]->kind() == Kind::PlainOutput)
      c.add(descs[i]->str(), outs.at(plain++), want[i].is_tensor() ? want[i].to_tensor() : Tensor());
  // Buffers the forward wrote: the compiled function wrote them into the primals.
  std::vector<Descriptor> primal_keys;
  for (const Descriptor& d : inputs.keys)
    if (d.kind() != Kind::TangentInput) primal_keys.push_back(d);
  auto primal_of = [&](const Descriptor& d) -> Tensor& {
    return primals.at(static_cast<size_t>(std::find(primal_keys.begin(), primal_keys.end(), d) - primal_keys.begin()));
  };
  for (size_t i = 0; i < descs.size(); ++i)
    if (descs[i] && descs[i]->kind() == Kind::InputMutationOutput)
      c.add(descs[i]->str(), primal_of(descs[i]->inner()), want[i].to_tensor());
  // Gradients: the compiled backward, each user output seeded with its tangent.
  TensorList roots, seeds;
  size_t t = 0;
  for (const Descriptor& d : inputs.keys) {
    if (d.kind() != Kind::TangentInput) continue;
    const Tensor& tangent = tangents.at(t++);
    if (d.inner().kind() != Kind::PlainOutput) continue;  // a mutated input's: not reachable from here
    const Tensor& out = outs.at(static_cast<size_t>(d.inner().idx()));
    if (!out.requires_grad()) continue;
    roots.push_back(out);
    seeds.push_back(tangent);
  }
  if (!roots.empty()) autograd::backward(roots, seeds);
  for (size_t i = 0; i < descs.size(); ++i)
    if (descs[i] && descs[i]->kind() == Kind::GradOutput)
      c.add(descs[i]->str(), primal_of(descs[i]->inner()).grad(), want[i].is_tensor() ? want[i].to_tensor() : Tensor());
  return c;
}

void run_joint(const std::string& text, const std::string& path, const RunGraphOptions& o) {
  exporting::JointWithDescriptors joint = exporting::joint_from_json(text);
  const graph::GraphModule& gm = *joint.graph_module;
  exporting::TrainState inputs = draw_inputs(gm);
  if (!o.inputs_path.empty()) exporting::load_checkpoint(o.inputs_path, inputs);
  if (!o.save_inputs_path.empty()) exporting::save_checkpoint(o.save_inputs_path, inputs, 0);
  compile::CompiledFunction f = compile::aot_compile_joint_with_descriptors(joint, o.compile_options);
  std::printf("compiled the joint graph of %s in %.1f ms: %s\n", path.c_str(), f.compile_ms(), f.signature().c_str());
  // The compiled forward on the primals, then its backward with the tangents.
  TensorList primals, tangents;
  for (size_t i = 0; i < inputs.keys.size(); ++i)
    (inputs.keys[i].kind() == Kind::TangentInput ? tangents : primals).push_back(clone(inputs.values[i]));
  for (Tensor& p : primals)
    if (p.is_floating_point()) p.set_requires_grad(true);
  TensorList outs = f.call_flat(primals);
  std::printf("ran it: %zu outputs\n", outs.size());
  if (!o.check) return;
  Comparison c = compare_joint(gm, inputs, primals, tangents, outs);
  AG_CHECK(c.ok, "run --graph --check: the compiled graph of {} differs from the interpreter (see above)", path);
  std::printf("%s: the compiled graph matches the interpreter\n", path.c_str());
}

void run_step_graph(const std::string& text, const std::string& path, const RunGraphOptions& o) {
  exporting::TrainStepGraph step;
  step.graph_module = graph::from_json(text);
  exporting::TrainState drawn = draw_inputs(*step.graph_module);
  if (!o.inputs_path.empty()) exporting::load_checkpoint(o.inputs_path, drawn);
  if (!o.save_inputs_path.empty()) exporting::save_checkpoint(o.save_inputs_path, drawn, 0);
  exporting::TrainState compiled_state = clone_state(drawn), interpreted_state = clone_state(drawn);
  nn::Args batch = split_batch(compiled_state);
  nn::Args batch_copy = split_batch(interpreted_state);
  compile::CompiledTrainStep compiled = compile::aot_compile_train_step(step, o.compile_options);
  std::printf("compiled the graph of %s in %.1f ms (%lld updates in place)\n", path.c_str(), compiled.compile_ms(),
              static_cast<long long>(compiled.updated_in_place()));
  TensorList outs = compiled(compiled_state, batch);
  std::printf(
      "ran it: %zu plain outputs%s\n", outs.size(),
      !outs.empty() && outs[0].numel() == 1 ? fmt::format(" (first: {:.6g})", outs[0].item<double>()).c_str() : "");
  if (!o.check) return;
  TensorList want = exporting::interpret_train_step(step, interpreted_state, batch_copy);
  Comparison c;
  std::printf("%-80s %12s\n", "compiled vs interpreted", "max |diff|");
  for (size_t i = 0; i < outs.size(); ++i) c.add(fmt::format("PlainAOTOutput(idx={})", i), outs[i], want.at(i));
  for (size_t i = 0; i < compiled_state.keys.size(); ++i)
    c.add(compiled_state.keys[i].str(), compiled_state.values[i], interpreted_state.values[i]);
  AG_CHECK(c.ok, "run --graph --check: the compiled graph of {} differs from the interpreter (see above)", path);
  std::printf("%s: the compiled graph matches the interpreter\n", path.c_str());
}
}  // namespace

void run_graph_file(const std::string& path, const RunGraphOptions& options) {
  const nlohmann::json doc = read_untrusted_json_file(path, fmt::format("graph file '{}'", path));
  const std::string text = doc.dump();
  const std::string format = doc.is_object() ? doc.value("format", "") : "";
  if (format == "aotgrad-joint") return run_joint(text, path, options);
  AG_CHECK(format == "aotgrad-graph", "run --graph: '{}' is neither a joint file nor a graph file", path);
  run_step_graph(text, path, options);
}

}  // namespace aotgrad::cli
