// Reading train-step golden cases and running them three ways.
#include "conformance/train_step_case.h"

#include <tuple>

#include "aotgrad/autograd.h"
#include "aotgrad/models.h"
#include "conformance/golden_reader.h"

namespace aotgrad::conformance {

namespace {
using detail::json;
using detail::Reader;

double number(const Reader& r, const json& obj, const std::string& key, const std::string& where) {
  const json& v = r.at(obj, key, where);
  if (!v.is_number()) r.fail(where + key, "must be a number, but got " + quote_excerpt(v.dump()));
  return v.get<double>();
}

bool flag(const Reader& r, const json& obj, const std::string& key, const std::string& where) {
  const json& v = r.at(obj, key, where);
  if (!v.is_boolean()) r.fail(where + key, "must be true or false");
  return v.get<bool>();
}

optim::UpdateRule read_rule(const Reader& r, const json& o) {
  const std::string type = r.str(o, "type", "optimizer.");
  if (type == "SGD") {
    optim::SGDOptions s;
    s.lr = number(r, o, "lr", "optimizer.");
    s.momentum = number(r, o, "momentum", "optimizer.");
    s.dampening = number(r, o, "dampening", "optimizer.");
    s.weight_decay = number(r, o, "weight_decay", "optimizer.");
    s.nesterov = flag(r, o, "nesterov", "optimizer.");
    s.maximize = flag(r, o, "maximize", "optimizer.");
    return optim::UpdateRule::sgd(s);
  }
  if (type == "Adam" || type == "AdamW") {
    optim::AdamOptions a;
    a.lr = number(r, o, "lr", "optimizer.");
    const json& betas = r.at(o, "betas", "optimizer.");
    if (!betas.is_array() || betas.size() != 2 || !betas[0].is_number() || !betas[1].is_number())
      r.fail("optimizer.betas", "must be a list of two numbers");
    a.beta1 = betas[0].get<double>();
    a.beta2 = betas[1].get<double>();
    a.eps = number(r, o, "eps", "optimizer.");
    a.weight_decay = number(r, o, "weight_decay", "optimizer.");
    a.maximize = flag(r, o, "maximize", "optimizer.");
    if (flag(r, o, "amsgrad", "optimizer.")) r.fail("optimizer.amsgrad", "is true, which aotgrad does not support");
    a.decoupled_weight_decay = type == "AdamW";
    return optim::UpdateRule::adam(a);
  }
  r.fail("optimizer.type", "is '" + type + "' (expected SGD, Adam or AdamW)");
}

TrainStepCase::Step read_step(const Reader& r, const json& s, const std::string& where) {
  TrainStepCase::Step step;
  const json& inputs = r.at(s, "inputs", where);
  if (!inputs.is_array()) r.fail(where + "inputs", "must be a list");
  for (size_t i = 0; i < inputs.size(); ++i)
    step.inputs.push_back(r.tensor(inputs[i], fmt::format("{}inputs[{}]", where, i)));
  if (!r.at(s, "target", where).is_null()) step.target = r.tensor(s["target"], where + "target");
  step.loss = r.tensor(r.at(s, "loss", where), where + "loss");
  const json& grads = r.at(s, "grads", where);
  if (!grads.is_object()) r.fail(where + "grads", "must be an object");
  for (auto it = grads.begin(); it != grads.end(); ++it)
    step.grads.emplace_back(it.key(), r.tensor(it.value(), where + "grads." + it.key()));
  if (s.contains("grad_norm")) step.grad_norm = r.tensor(s["grad_norm"], where + "grad_norm");
  auto named = [&](const std::string& key) {
    const json& list = r.at(s, key, where);
    if (!list.is_array()) r.fail(where + key, "must be a list");
    nn::NamedTensors out;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string field = fmt::format("{}{}[{}]", where, key, i);
      out.emplace_back(r.str(list[i], "name", field + "."), r.tensor(list[i], field));
    }
    return out;
  };
  step.params_after = named("params_after");
  step.buffers_after = named("buffers_after");
  const json& state = r.at(s, "optimizer_state_after", where);
  if (!state.is_object()) r.fail(where + "optimizer_state_after", "must be an object");
  for (auto p = state.begin(); p != state.end(); ++p) {
    if (!p.value().is_object()) r.fail(where + "optimizer_state_after." + p.key(), "must be an object");
    for (auto k = p.value().begin(); k != p.value().end(); ++k)
      step.state_after.emplace_back(p.key(), k.key(),
                                    r.tensor(k.value(), where + "optimizer_state_after." + p.key() + "." + k.key()));
  }
  return step;
}
std::vector<TrainStepCase::NoiseEntry> read_noise(const Reader& r, const json& list) {
  if (!list.is_array()) r.fail("tolerance.noise_dominated", "must be a list");
  std::vector<TrainStepCase::NoiseEntry> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = fmt::format("tolerance.noise_dominated[{}].", i);
    TrainStepCase::NoiseEntry e{r.str(list[i], "field", where), r.str(list[i], "name", where), {}, {}};
    const json& st = r.at(list[i], "steps", where);
    const json& at = r.at(list[i], "atol", where);
    if (!st.is_array() || !at.is_array() || st.size() != at.size())
      r.fail(where + "steps", "and atol must be lists of the same length");
    for (size_t k = 0; k < st.size(); ++k) {
      if (!st[k].is_number_integer()) r.fail(where + "steps", "must hold step numbers");
      e.steps.push_back(st[k].get<int64_t>());
      if (!at[k].is_number() || !(at[k].get<double>() >= 0 && at[k].get<double>() <= 1))
        r.fail(where + "atol", "must hold numbers in [0, 1]");
      e.atol.push_back(at[k].get<double>());
    }
    out.push_back(std::move(e));
  }
  return out;
}
}  // namespace

double TrainStepCase::atol_for(const std::string& field, const std::string& entry, int64_t step) const {
  for (const NoiseEntry& e : noise) {
    if (e.field != field || e.name != entry) continue;
    for (size_t i = 0; i < e.steps.size(); ++i)
      if (e.steps[i] == step) return e.atol.at(i);
  }
  return atol;
}

bool is_train_step_document(std::string_view text) {
  try {
    const json doc = parse_untrusted_json(text, "golden file");
    return doc.is_object() && doc.contains("steps") && doc.contains("optimizer");
  } catch (const Error&) {
    return false;  // the ordinary loader reports what is wrong with it
  }
}

bool is_train_step_file(const std::string& path) {
  try {
    const json doc = read_untrusted_json_file(path, "golden file");
    return doc.is_object() && doc.contains("steps") && doc.contains("optimizer");
  } catch (const Error&) {
    return false;
  }
}

TrainStepCase load_train_step_case(const std::string& path) {
  const json doc = read_untrusted_json_file(path, fmt::format("golden file '{}'", path));
  return parse_train_step_text(doc.dump(), path);
}

TrainStepCase parse_train_step_text(std::string_view text, const std::string& path) {
  const json doc = parse_untrusted_json(text, fmt::format("golden file '{}'", path));
  Reader r{path};
  AG_CHECK(doc.is_object(), "golden file '{}': expected a JSON object at the top level", path);
  const json& version = r.at(doc, "format_version", "");
  if (!version.is_number_integer() || version.get<int64_t>() != 1)
    r.fail("format_version", fmt::format("is {}, but this build reads version 1", quote_excerpt(version.dump())));
  TrainStepCase c;
  c.path = path;
  c.name = r.str(doc, "case");
  c.model = r.str(doc, "model");
  c.optimizer_name = r.str(doc, "optimizer_name");
  if (r.str(doc, "mode") != "train") r.fail("mode", "must be \"train\"");
  c.params = r.named_list(doc, "params");
  c.buffers = r.named_list(doc, "buffers");
  c.rule = read_rule(r, r.at(doc, "optimizer", ""));
  const json& clip = r.at(doc, "clip_grad_norm", "");
  if (!clip.is_null()) {
    c.clip_max_norm = number(r, clip, "max_norm", "clip_grad_norm.");
    const double norm_type = number(r, clip, "norm_type", "clip_grad_norm.");
    if (norm_type != 2) r.fail("clip_grad_norm.norm_type", fmt::format("is {}; aotgrad clips the L2 norm", norm_type));
  }
  const std::string loss = r.str(r.at(doc, "loss", ""), "kind", "loss.");
  if (loss == "mse")
    c.loss = exporting::LossKind::Mse;
  else if (loss == "model_output")
    c.loss = exporting::LossKind::ModelOutput;
  else
    r.fail("loss.kind", "is '" + loss + "' (expected mse or model_output)");
  const json& steps = r.at(doc, "steps", "");
  if (!steps.is_array() || steps.empty()) r.fail("steps", "must be a non-empty list");
  for (size_t i = 0; i < steps.size(); ++i) {
    c.steps.push_back(read_step(r, steps[i], fmt::format("steps[{}].", i)));
    AG_CHECK(c.steps.back().target.defined() == (c.loss == exporting::LossKind::Mse),
             "golden file '{}': steps[{}].target must be given exactly when the loss is mse", path, i);
  }
  const json& tol = r.at(doc, "tolerance", "");
  c.rtol = r.tolerance(tol, "rtol");
  c.atol = r.tolerance(tol, "atol");
  if (tol.contains("noise_dominated")) c.noise = read_noise(r, tol["noise_dominated"]);
  return c;
}

const char* step_runner_name(StepRunner runner) {
  switch (runner) {
    case StepRunner::Eager:
      return "eager";
    case StepRunner::Graph:
      return "graph";
    case StepRunner::Compiled:
      return "compiled";
  }
  return "?";
}

namespace {
// Finds `name` in `named`, or null.
const Tensor* lookup(const nn::NamedTensors& named, const std::string& name) {
  for (const auto& [n, t] : named)
    if (n == name) return &t;
  return nullptr;
}
}  // namespace

namespace {
// One run of a case: the model loaded with the case's state, stepped by `runner`,
// compared after every step.
class StepChecker {
 public:
  StepChecker(const TrainStepCase& c, StepRunner runner, const compile::CompileOptions& options)
      : c_(c), inst_(models::instantiate(models::find_model(c.model))), module_(*inst_.module) {
    module_.train(true);
    nn::NamedTensors state = c.params;
    state.insert(state.end(), c.buffers.begin(), c.buffers.end());
    module_.load_state_dict(state);
    if (runner == StepRunner::Eager) {
      eager_.emplace(optim::parameters_of(module_), c.rule);
      return;
    }
    exporting::TrainStepOptions o;
    o.loss = c.loss;
    o.rule = c.rule;
    o.clip_max_norm = c.clip_max_norm;
    o.export_options.record_stack_traces = false;
    graph_ = exporting::aot_export_train_step(module_, batch_of(c.steps[0]), o);
    state_ = exporting::TrainState::for_module(module_, *graph_);
    if (runner == StepRunner::Compiled) compiled_ = compile::aot_compile_train_step(*graph_, options);
  }

  void run_and_compare(size_t k) {
    const TrainStepCase::Step& s = c_.steps[k];
    step_no_ = static_cast<int64_t>(k + 1);
    at_ = fmt::format("step {}: ", step_no_);
    nn::Args batch = batch_of(s);
    Tensor loss, grad_norm;
    if (eager_) {
      eager_->zero_grad();
      nn::Args module_args(batch.begin(), batch.end() - (s.target.defined() ? 1 : 0));
      Tensor out = module_(module_args).tensor();
      loss = exporting::training_loss(c_.loss, out, s.target.defined() ? batch.back().tensor() : Tensor());
      autograd::backward(loss);
      for (const auto& [name, want] : s.grads) check("grad '" + name + "'", param(name).grad(), want, c_.atol);
      if (c_.clip_max_norm) grad_norm = optim::clip_grad_norm_(eager_->params(), *c_.clip_max_norm);
      eager_->step();
    } else {
      TensorList plain =
          compiled_ ? (*compiled_)(*state_, batch) : exporting::interpret_train_step(*graph_, *state_, batch);
      loss = plain.at(0);
      if (c_.clip_max_norm) grad_norm = plain.at(1);
    }
    check("loss", loss, s.loss, c_.atol);
    if (s.grad_norm.defined()) check("grad_norm", grad_norm, s.grad_norm, c_.atol);
    for (const auto& [name, want] : s.params_after)
      check("parameter '" + name + "'", param(name), want, c_.atol_for("params_after", name, step_no_));
    const nn::NamedTensors buffers = module_.named_buffers();
    for (const auto& [name, want] : s.buffers_after) {
      const Tensor* got = lookup(buffers, name);
      AG_CHECK(got != nullptr, "the model has no buffer '{}'", name);
      check("buffer '" + name + "'", *got, want, c_.atol_for("buffers_after", name, step_no_));
    }
    for (const auto& [name, key, want] : s.state_after)
      check("optimizer state '" + key + "' of '" + name + "'", state_of(name, key), want,
            c_.atol_for("optimizer_state_after", name, step_no_));
  }

  double max_err() const { return max_err_; }

 private:
  const TrainStepCase& c_;
  models::Instance inst_;
  nn::Module& module_;
  std::optional<optim::Optimizer> eager_;
  std::optional<exporting::TrainStepGraph> graph_;
  std::optional<exporting::TrainState> state_;
  std::optional<compile::CompiledTrainStep> compiled_;
  int64_t step_no_ = 0;
  std::string at_;
  double max_err_ = 0;

  static nn::Args batch_of(const TrainStepCase::Step& s) {
    nn::Args batch;
    for (const Tensor& t : s.inputs) batch.emplace_back(clone(t));
    if (s.target.defined()) batch.emplace_back(clone(s.target));
    return batch;
  }
  void check(const std::string& what, const Tensor& got, const Tensor& want, double atol) {
    if (auto e = compare_tensors(at_ + what, got, want, c_.rtol, atol, &max_err_)) AG_FAIL("{}", *e);
  }
  Tensor param(const std::string& name) const {
    const nn::NamedTensors params = module_.named_parameters();
    const Tensor* p = lookup(params, name);
    AG_CHECK(p != nullptr, "the model has no parameter '{}'", name);
    return *p;
  }
  Tensor state_of(const std::string& name, const std::string& key) const {
    Tensor got;
    if (eager_) {
      const nn::NamedTensors params = module_.named_parameters();
      const std::vector<std::string> keys = c_.rule.state_names();
      for (size_t i = 0; i < params.size(); ++i)
        for (size_t j = 0; j < keys.size(); ++j)
          if (params[i].first == name && keys[j] == key && !eager_->state(i).empty()) got = eager_->state(i)[j];
    } else if (const Tensor* t = state_->find(Descriptor::optimizer_state(Descriptor::param(name), key))) {
      got = *t;
    }
    AG_CHECK(got.defined(), "{}optimizer state '{}' of '{}': {} keeps no such state", at_, key, name, c_.rule.name());
    return got;
  }
};
}  // namespace

CaseResult check_train_step(const TrainStepCase& c, StepRunner runner, const compile::CompileOptions& options) {
  CaseResult r{c.name, false, ""};
  try {
    StepChecker checker(c, runner, options);
    for (size_t k = 0; k < c.steps.size(); ++k) checker.run_and_compare(k);
    r.passed = true;
    r.detail = fmt::format("{}: {} steps, max err {:.2g}", step_runner_name(runner), c.steps.size(), checker.max_err());
  } catch (const Error& e) {
    r.detail = fmt::format("{}: {}", step_runner_name(runner), e.what());
  }
  return r;
}

}  // namespace aotgrad::conformance
