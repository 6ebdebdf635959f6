// TrainState: the tensors a whole-step graph reads and writes, bound by descriptor;
// and checkpoints of it.
#include <cmath>
#include <functional>
#include <limits>

#include "aotgrad/autograd.h"
#include "aotgrad/ops.h"
#include "aotgrad/train_step.h"
#include "aotgrad/version.h"
#include "support/atomic_file.h"
#include "support/error.h"
#include "support/json_input.h"

namespace aotgrad::exporting {

namespace {
using Kind = Descriptor::Kind;
using nlohmann::json;

constexpr int64_t kCheckpointFormatVersion = 1;
constexpr const char* kCheckpointFormat = "aotgrad-checkpoint";

bool same_memory(const Tensor& a, const Tensor& b) {
  return a.defined() && b.defined() && !a.is_meta() && !b.is_meta() && a.raw_data() == b.raw_data() &&
         a.sizes() == b.sizes() && a.strides() == b.strides() && a.dtype() == b.dtype();
}
}  // namespace

TrainState TrainState::for_module(nn::Module& module, const TrainStepGraph& step) {
  AG_CHECK(!step.fully_sharded || step.fully_sharded->world_size == 1,
           "train step: the graph is sharded across {} ranks; bind it with for_module(module, step, rank)",
           step.fully_sharded ? step.fully_sharded->world_size : 1);
  return for_module(module, step, 0);
}

TrainState TrainState::for_module(nn::Module& module, const TrainStepGraph& step, int64_t rank) {
  TrainState s;
  nn::NamedTensors params = module.named_parameters(), buffers = module.named_buffers();
  auto lookup = [](const nn::NamedTensors& named, const std::string& fqn, const char* what) {
    for (const auto& [n, t] : named)
      if (n == fqn) return t;
    AG_FAIL("train step: the graph reads {} '{}', which the module does not have", what, fqn);
  };
  for (const graph::Node* p : step.graph_module->graph->placeholders()) {
    AG_CHECK(p->meta.desc.has_value(), "train step: placeholder '{}' has no descriptor", p->name());
    const Descriptor& d = *p->meta.desc;
    const graph::TensorVal& v = p->meta.val.as_tensor();
    Tensor t;
    switch (d.kind()) {
      case Kind::PlainInput:
        continue;
      case Kind::ParamInput:
        t = lookup(params, d.target(), "parameter");
        if (step.fully_sharded) t = shard_of(t, rank, step.fully_sharded->world_size);
        break;
      case Kind::BufferInput:
        t = lookup(buffers, d.target(), "buffer");
        break;
      case Kind::OptimizerStateInput:
        t = Tensor::zeros(v.sizes, v.dtype);
        break;
      case Kind::HyperparamInput: {
        double value = std::numeric_limits<double>::quiet_NaN();
        for (const auto& [name, x] : step.hyperparams)
          if (name == d.target()) value = x;
        t = scalar_tensor(value, DType::Float64);
        break;
      }
      default:
        AG_FAIL("train step: input '{}' is {}, which a training step does not take", p->name(), d.str());
    }
    AG_CHECK(t.sizes() == v.sizes && t.dtype() == v.dtype, "train step: {} is {}, but the graph was exported with {}",
             d.str(), t.describe(), v.str());
    s.keys.push_back(d);
    s.values.push_back(t);
  }
  return s;
}

namespace {
const Shape* full_sizes_of(const TrainStepGraph& step, const Descriptor& key) {
  for (const auto& s : step.sharded)
    if (s.input == key) return &s.full_sizes;
  return nullptr;
}
}  // namespace

TrainState TrainState::unsharded(const TrainStepGraph& step,
                                 const std::function<Tensor(const Tensor&)>& all_gather) const {
  TrainState whole = *this;
  for (size_t i = 0; i < keys.size(); ++i)
    if (const Shape* sizes = full_sizes_of(step, keys[i])) whole.values[i] = unshard(all_gather(values[i]), *sizes);
  return whole;
}

TrainState TrainState::sharded(const TrainStepGraph& step, int64_t rank) const {
  AG_CHECK(step.fully_sharded.has_value(), "train step: the graph is not sharded");
  TrainState mine = *this;
  for (size_t i = 0; i < keys.size(); ++i)
    if (full_sizes_of(step, keys[i]) != nullptr)
      mine.values[i] = shard_of(values[i], rank, step.fully_sharded->world_size);
  return mine;
}

void TrainState::write_into_module(nn::Module& module) const {
  autograd::NoGradGuard no_grad;
  for (auto& [fqn, slot] : module.parameter_slots()) {
    const Tensor* t = find(Descriptor::param(fqn));
    if (t == nullptr || t->raw_data() == slot->raw_data()) continue;
    AG_CHECK(t->sizes() == slot->sizes(), "train step: {} is {}, but the module's parameter is {}",
             Descriptor::param(fqn).str(), t->describe(), slot->describe());
    copy_(*slot, *t);
  }
}

Tensor* TrainState::find(const Descriptor& key) {
  for (size_t i = 0; i < keys.size(); ++i)
    if (keys[i] == key) return &values[i];
  return nullptr;
}

// Keys come in graph order (for_module makes them so), and bind() and absorb() visit
// them in that order too: a cursor finds each in one comparison, and a search is the
// fallback for a state built some other way. Searching every time would cost
// (4 x parameters)^2 descriptor comparisons per step.
Tensor* TrainState::find_from(const Descriptor& key, size_t& cursor) {
  if (cursor < keys.size() && keys[cursor] == key) return &values[cursor++];
  Tensor* t = find(key);
  if (t != nullptr) cursor = static_cast<size_t>(t - values.data()) + 1;
  return t;
}
const Tensor* TrainState::find(const Descriptor& key) const {
  return const_cast<TrainState*>(this)->find(key);
}

void TrainState::set_hyperparam(const std::string& name, double value) {
  Tensor* t = find(Descriptor::hyperparam(name));
  AG_CHECK(t != nullptr, "train step: the graph has no hyperparameter '{}'", name);
  *t = scalar_tensor(value, DType::Float64);
}

double TrainState::hyperparam(const std::string& name) const {
  const Tensor* t = find(Descriptor::hyperparam(name));
  AG_CHECK(t != nullptr, "train step: the graph has no hyperparameter '{}'", name);
  return t->item<double>();
}

TensorList TrainState::bind(const graph::GraphModule& gm, const nn::Args& batch) const {
  TensorList inputs;
  size_t batch_inputs = 0, cursor = 0;
  for (const graph::Node* p : gm.graph->placeholders()) {
    const Descriptor& d = *p->meta.desc;
    const graph::TensorVal& v = p->meta.val.as_tensor();
    if (d.kind() == Kind::PlainInput) {
      const size_t i = static_cast<size_t>(d.idx());
      AG_CHECK(i < batch.size() && batch[i].is_leaf() && batch[i].leaf().is_tensor(),
               "train step: the batch has {} inputs, but the graph takes {}", batch.size(), d.str());
      const Tensor& t = batch[i].tensor();
      // Symbolic sizes are bound (and their guards checked) by the compiled step.
      const bool fits = v.sym_sizes.empty() ? t.sizes() == v.sizes : t.dim() == static_cast<int64_t>(v.sizes.size());
      AG_CHECK(fits && t.dtype() == v.dtype, "train step: batch input {} must be {}, but got {}", i, v.str(),
               t.describe());
      inputs.push_back(t);
      ++batch_inputs;
      continue;
    }
    const Tensor* t = const_cast<TrainState*>(this)->find_from(d, cursor);
    AG_CHECK(t != nullptr, "train step: the state has no tensor for {}", d.str());
    inputs.push_back(*t);
  }
  AG_CHECK(batch_inputs == batch.size(), "train step: the batch has {} inputs, but the graph takes {}", batch.size(),
           batch_inputs);
  return inputs;
}

TensorList TrainState::absorb(const graph::GraphModule& gm, const TensorList& outputs) {
  const auto& descs = gm.graph->output_node()->meta.out_descs;
  AG_INTERNAL_CHECK(descs.size() == outputs.size(), "train step: {} outputs for {} descriptors", outputs.size(),
                    descs.size());
  autograd::NoGradGuard no_grad;
  TensorList plain;
  size_t cursor = 0;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Descriptor& d = *descs[i];
    if (d.kind() != Kind::InputMutationOutput) {
      plain.push_back(outputs[i]);
      continue;
    }
    Tensor* target = find_from(d.inner(), cursor);
    AG_INTERNAL_CHECK(target != nullptr, "train step: no state for {}", d.str());
    if (!same_memory(*target, outputs[i])) copy_(*target, outputs[i]);
  }
  return plain;
}

TensorList interpret_train_step(const TrainStepGraph& step, TrainState& state, const nn::Args& batch) {
  const graph::GraphModule& gm = *step.graph_module;
  std::vector<IValue> in;
  for (const Tensor& t : state.bind(gm, batch)) in.emplace_back(t);
  TensorList out;
  {
    autograd::NoGradGuard no_grad;
    for (const IValue& v : graph::interpret(gm, in)) out.push_back(v.to_tensor());
  }
  return state.absorb(gm, out);
}

// ---- checkpoints ----

namespace {
json encode_tensor(const Tensor& t) {
  json data = json::array();
  if (t.is_floating_point()) {
    for (double x : t.to_vector<double>()) {
      // Finite values as the shortest decimal that reads back to the same float or
      // double; the rest by name.
      if (std::isnan(x))
        data.push_back("nan");
      else if (std::isinf(x))
        data.push_back(x > 0 ? "inf" : "-inf");
      else
        data.push_back(x);
    }
  } else {
    for (int64_t x : t.to_vector<int64_t>()) data.push_back(x);
  }
  return {{"shape", t.sizes()}, {"dtype", std::string(dtype_name(t.dtype()))}, {"data", std::move(data)}};
}

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  AG_FAIL("checkpoint '{}': {}", path, what);
}

// Reads entry `e` into a new tensor shaped like `like`.
Tensor decode_tensor(const std::string& path, const std::string& key, const json& e, const Tensor& like) {
  if (!e.is_object() || !e.contains("shape") || !e.contains("dtype") || !e.contains("data"))
    bad(path, fmt::format("entry {} needs shape, dtype and data", key));
  const json &shape = e["shape"], &dtype = e["dtype"], &data = e["data"];
  if (!dtype.is_string() || dtype.get<std::string>() != dtype_name(like.dtype()))
    bad(path, fmt::format("{} has dtype {}, but the step's is {}", key, quote_excerpt(dtype.dump()),
                          dtype_name(like.dtype())));
  Shape sizes;
  if (!shape.is_array()) bad(path, fmt::format("{}: shape must be a list", key));
  for (const json& d : shape) {
    if (!d.is_number_integer()) bad(path, fmt::format("{}: shape must hold integers", key));
    sizes.push_back(d.get<int64_t>());
  }
  if (sizes != like.sizes())
    bad(path, fmt::format("{} has shape {}, but the step's is {}", key, shape_str(sizes), shape_str(like.sizes())));
  if (!data.is_array() || static_cast<int64_t>(data.size()) != like.numel())
    bad(path, fmt::format("{}: data must be a list of {} numbers", key, like.numel()));
  if (!like.is_floating_point()) {
    std::vector<int64_t> v;
    for (const json& x : data) {
      if (!x.is_number_integer()) bad(path, fmt::format("{}: data must hold integers", key));
      v.push_back(x.get<int64_t>());
    }
    return to(Tensor::from_vector<int64_t>(v, sizes), like.dtype());
  }
  std::vector<double> v;
  for (const json& x : data) {
    if (x.is_number()) {
      v.push_back(x.get<double>());
    } else if (x.is_string() && (x == "nan" || x == "inf" || x == "-inf")) {
      const std::string s = x.get<std::string>();
      v.push_back(s == "nan"   ? std::numeric_limits<double>::quiet_NaN()
                  : s == "inf" ? std::numeric_limits<double>::infinity()
                               : -std::numeric_limits<double>::infinity());
    } else {
      bad(path, fmt::format("{}: data must hold numbers", key));
    }
  }
  if (like.dtype() == DType::Float32) {
    for (double x : v)
      if (std::isfinite(x) && std::abs(x) > std::numeric_limits<float>::max())
        bad(path, fmt::format("{}: {} does not fit float32", key, x));
    return Tensor::from_vector<float>(std::vector<float>(v.begin(), v.end()), sizes);
  }
  return to(Tensor::from_vector<double>(v, sizes), like.dtype());
}
}  // namespace

void save_checkpoint(const std::string& path, const TrainState& state, int64_t steps_done) {
  json entries = json::array();
  for (size_t i = 0; i < state.keys.size(); ++i) {
    if (state.keys[i].kind() == Kind::HyperparamInput) continue;
    json e = encode_tensor(state.values[i]);
    e["key"] = state.keys[i].str();
    entries.push_back(std::move(e));
  }
  // One entry per line: a diff of two checkpoints reads per tensor.
  json head = {{"format", kCheckpointFormat},
               {"format_version", kCheckpointFormatVersion},
               {"producer", "aotgrad " AOTGRAD_VERSION},
               {"steps_done", steps_done}};
  std::string text = head.dump();
  text.pop_back();  // the closing brace
  text += ",\n\"entries\": [\n";
  for (size_t i = 0; i < entries.size(); ++i) text += entries[i].dump() + (i + 1 < entries.size() ? ",\n" : "\n");
  text += "]}\n";
  write_file_atomically(path, text);
}

int64_t load_checkpoint(const std::string& path, TrainState& state) {
  const json doc = read_untrusted_json_file(path, fmt::format("checkpoint '{}'", path));
  if (!doc.is_object() || doc.value("format", json()) != kCheckpointFormat)
    bad(path, fmt::format("not an aotgrad checkpoint (expected \"format\": \"{}\")", kCheckpointFormat));
  if (doc.value("format_version", json()) != kCheckpointFormatVersion)
    bad(path, fmt::format("format_version must be {}, but got {}", kCheckpointFormatVersion,
                          quote_excerpt(doc.value("format_version", json()).dump())));
  const json& steps = doc.value("steps_done", json());
  if (!steps.is_number_integer() || steps.get<int64_t>() < 0) bad(path, "steps_done must be a non-negative integer");
  const json& entries = doc.value("entries", json());
  if (!entries.is_array()) bad(path, "entries must be a list");
  // Everything is decoded and checked before anything is written.
  std::vector<std::pair<Tensor*, Tensor>> updates;
  std::vector<bool> seen(entries.size(), false);
  for (size_t i = 0; i < state.keys.size(); ++i) {
    if (state.keys[i].kind() == Kind::HyperparamInput) continue;
    const std::string key = state.keys[i].str();
    size_t found = entries.size();
    for (size_t k = 0; k < entries.size(); ++k)
      if (entries[k].is_object() && entries[k].value("key", json()) == key) found = k;
    if (found == entries.size())
      bad(path, fmt::format("it has no {} (it was written for another model or optimizer)", key));
    seen[found] = true;
    updates.emplace_back(&state.values[i], decode_tensor(path, key, entries[found], state.values[i]));
  }
  for (size_t k = 0; k < entries.size(); ++k)
    if (!seen[k])
      bad(path, fmt::format("entry {} ({}) is not an input of this training step", k,
                            quote_excerpt(entries[k].is_object() ? entries[k].value("key", json()).dump() : "?")));
  autograd::NoGradGuard no_grad;
  for (auto& [target, value] : updates) copy_(*target, value);
  return steps.get<int64_t>();
}

}  // namespace aotgrad::exporting
