// compile(fn): a function of tensors compiled lazily, once per input signature.
#include <atomic>
#include <map>
#include <mutex>

#include "aotgrad/compile.h"
#include "aotgrad/export.h"
#include "aotgrad/warning.h"
#include "ops/dispatch.h"
#include "support/error.h"

namespace aotgrad::compile {

namespace {
// The function as a module without parameters, so the joint export can take it.
class FunctionModule : public nn::Module {
 public:
  explicit FunctionModule(std::function<TensorList(const TensorList&)> fn)
      : nn::Module("CompiledFunction"), fn_(std::move(fn)) {}
  pytree::Value forward(const nn::Args& args, const nn::Kwargs&) override {
    TensorList in;
    for (const pytree::Value& a : args) in.push_back(a.tensor());
    std::vector<pytree::Value> out;
    for (const Tensor& t : fn_(in)) out.emplace_back(t);
    return pytree::Value::tuple(out);
  }

 private:
  std::function<TensorList(const TensorList&)> fn_;
};

// What a compiled program is specialised to: each input's dtype, shape and whether it
// requires grad.
std::string signature_of(const TensorList& inputs) {
  std::string key;
  for (const Tensor& t : inputs) key += t.describe() + (t.requires_grad() ? "+grad;" : ";");
  return key;
}
}  // namespace

struct CompiledCallableState {
  std::function<TensorList(const TensorList&)> fn;
  CompileOptions options;
  FunctionModule module;
  std::mutex mutex;
  std::map<std::string, CompiledFunction> compiled;  // by input signature
  std::atomic<bool> warned{false};                   // once per compiled callable
  CompiledCallableState(std::function<TensorList(const TensorList&)> f, CompileOptions o)
      : fn(f), options(std::move(o)), module(std::move(f)) {}
};

TensorList CompiledCallable::operator()(const TensorList& inputs) const {
  CompiledCallableState& s = *state_;
  if (ops::current_mode() != nullptr) {  // Note [Compiled functions under a trace]
    if (!s.warned.exchange(true))
      warn("compile() is ignored when called inside an export or make_fx region: the function is traced through");
    return s.fn(inputs);
  }
  for (const Tensor& t : inputs) AG_CHECK(t.defined(), "compiled function: every input must be a defined tensor");
  const std::string key = signature_of(inputs);
  const CompiledFunction* fn = nullptr;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    auto it = s.compiled.find(key);
    if (it == s.compiled.end()) {
      nn::Args args(inputs.begin(), inputs.end());
      auto joint = exporting::aot_export_joint_with_descriptors(s.module, args);
      it = s.compiled.emplace(key, aot_compile_joint_with_descriptors(joint, s.options)).first;
    }
    fn = &it->second;
  }
  return fn->call_flat(inputs);
}

int64_t CompiledCallable::compilations() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return static_cast<int64_t>(state_->compiled.size());
}

CompiledCallable compile(std::function<TensorList(const TensorList&)> fn, const CompileOptions& options) {
  AG_CHECK(fn != nullptr, "compile: the function is empty");
  CompiledCallable c;
  c.state_ = std::make_shared<CompiledCallableState>(std::move(fn), options);
  return c;
}

}  // namespace aotgrad::compile
