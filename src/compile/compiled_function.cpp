// aot_compile_joint_with_descriptors: partition, compile both halves, and wrap them
// in the module's calling convention with one autograd node.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <variant>

#include "aotgrad/autograd.h"
#include "aotgrad/ops.h"
#include "aotgrad/warning.h"
#include "compile/batch_shares.h"
#include "compile/pipeline.h"
#include "compile/program.h"
#include "core/shape.h"
#include "hop/register.h"
#include "ops/dispatch.h"
#include "support/error.h"

namespace aotgrad::compile {

class CompiledFunctionImpl;

// Note [One compiled function for every size]
// A joint graph with symbolic shapes compiles into a family: the function compiled at
// the example's sizes, and on the first call at other sizes, a function compiled for
// those, kept for the next call at the same sizes. The trace is never repeated, nor
// the partition, cse and dce (done once on the symbolic joint, the min cut weighed at
// the example's sizes). Per size, the symbolic halves are lowered at the symbols'
// values (Note [Lowering at a size], compile/program.h): no graph is copied, and the
// layouts, fused loops and memory plan are made for the size; the backward takes its
// saved values in the layouts the forward program made. Every call binds the symbols
// from the inputs' sizes and checks the graph's guards first.
struct SizeFamily {
  exporting::JointWithDescriptors symbolic;
  /// The partition serves every size: split once, with symbols.
  partition::Partition symbolic_partition;
  CompileOptions options;
  std::map<int64_t, int64_t> example_sizes;  // the symbols' values the head was compiled at
  mutable std::mutex mu;
  mutable std::map<std::map<int64_t, int64_t>, std::shared_ptr<const CompiledFunctionImpl>> by_size;
  mutable double last_compile_ms = 0;
};

class CompiledFunctionImpl : public std::enable_shared_from_this<CompiledFunctionImpl> {
 public:
  /// Set on the function compiled from a graph with symbolic shapes.
  std::shared_ptr<SizeFamily> family;
  /// The member of the family for these inputs' sizes (this one at the example's).
  const CompiledFunctionImpl& for_sizes(const TensorList& primals) const;
  std::string name;
  exporting::JointWithDescriptors joint;
  /// The halves (a family's members share its symbolic ones).
  partition::Partition partition;
  std::unique_ptr<Program> forward, backward;
  /// Per primal: its placeholder (name, descriptor), and its value at this function's
  /// sizes (the placeholder's may be symbolic).
  std::vector<const graph::Node*> primals;
  std::vector<graph::TensorVal> primal_vals;
  /// Note [Descriptors on the halves]: where each value of the compiled halves goes,
  /// worked out once from their descriptors.
  struct Route {
    enum class Kind { UserOutput, Mutation, Saved, Tangent, Zeros, Grad, Dropped } kind;
    size_t index = 0;  // the user output, primal or saved value
  };
  std::vector<Route> forward_outputs;   // per output of the forward program
  std::vector<Route> backward_inputs;   // per placeholder of the backward program
  std::vector<Route> backward_outputs;  // per output of the backward program
  size_t num_user_outputs = 0, num_saved = 0;
  std::vector<bool> has_tangent;  // per user output
  double compile_ms = 0;
  CompileOptions options;
  /// Note [Batch shares]: the forward's batch rows, or why an inference call cannot
  /// run the batch in shares; the shares made for each thread count so far; how many
  /// programs the last inference call ran.
  std::variant<BatchRows, std::string> batch_rows;
  mutable std::mutex shares_mu;
  mutable std::map<int, std::shared_ptr<const BatchShares>> shares_by_threads;
  mutable std::atomic<int64_t> last_shares{1};
  const BatchShares* shares_for_call() const;

  void plan_routes();

  std::string signature() const;
  /// The symbolic joint's placeholder for primal i (the concrete one otherwise).
  const graph::Node* signature_primal(size_t i) const;
  void check_primal(size_t i, const Tensor& t) const;
  TensorList call(const TensorList& primals) const;
  TensorList run_forward(const TensorList& inputs, TensorList& saved, const BatchShares* shares = nullptr) const;
  TensorList trace_through(const TensorList& given) const;
  TensorList run_backward(std::vector<Tensor>& saved, const TensorList& grad_outputs) const;
};

namespace {
std::string describe_placeholder(const graph::Node* p) {
  return p->name() + ": " + p->meta.val.as_tensor().str() + " " + p->meta.desc->str();
}

// The tensor laid out as the compiled graph expects (a contiguous copy, say).
Tensor with_layout(const Tensor& t, const graph::TensorVal& want) {
  if (t.strides() == want.strides) return t;
  Tensor c = aotgrad::contiguous(t);
  AG_CHECK(c.strides() == want.strides,
           "compiled function: an input laid out with strides {} is needed, but the "
           "tensor passed has strides {}",
           shape_str(want.strides), shape_str(t.strides()));
  return c;
}
}  // namespace

const graph::Node* CompiledFunctionImpl::signature_primal(size_t i) const {
  if (!family) return primals[i];
  return family->symbolic.graph_module->graph->placeholders().at(i);
}

std::string CompiledFunctionImpl::signature() const {
  std::string s = "(";
  for (size_t i = 0; i < primals.size(); ++i) s += (i ? ", " : "") + describe_placeholder(signature_primal(i));
  s += ") -> (";
  bool first = true;
  if (family) {  // the outputs' sizes as expressions, from the symbolic joint graph
    const graph::Node* out = family->symbolic.graph_module->graph->output_node();
    const auto& values = out->args()[0].list();
    for (size_t i = 0; i < values.size(); ++i) {
      const auto& desc = out->meta.out_descs[i];
      if (!desc || desc->kind() != Descriptor::Kind::PlainOutput || !values[i].is_node()) continue;
      s += (first ? "" : ", ") + values[i].node()->meta.val.as_tensor().str() + " " + desc->str();
      first = false;
    }
    return s + ")";
  }
  const graph::Node* out = partition.forward->graph->output_node();
  const auto& values = out->args()[0].list();
  for (size_t i = 0; i < values.size(); ++i) {
    if (forward_outputs[i].kind != Route::Kind::UserOutput) continue;
    s += (first ? "" : ", ") + values[i].node()->meta.val.as_tensor().str() + " " + out->meta.out_descs[i]->str();
    first = false;
  }
  return s + ")";
}

void CompiledFunctionImpl::check_primal(size_t i, const Tensor& t) const {
  const graph::Node* p = primals[i];
  const graph::TensorVal& want = primal_vals[i];
  auto fail = [&](const std::string& got) {
    AG_FAIL("compiled {}: argument {} ({}) must be {}, but got {}; the compiled function takes {}", name, i,
            p->meta.desc->str(), want.str(), got, signature());
  };
  if (!t.defined()) fail("an undefined tensor");
  if (t.sizes() != want.sizes || t.dtype() != want.dtype)
    fail(std::string(dtype_abbrev(t.dtype())) + shape_str(t.sizes()));
}

TensorList CompiledFunctionImpl::call(const TensorList& given) const {
  AG_CHECK(given.size() == primals.size(),
           "compiled {}: expected {} tensors (parameters, buffers, then inputs), but "
           "got {}; the compiled function takes {}",
           name, primals.size(), given.size(), signature());
  if (family) {
    const CompiledFunctionImpl& member = for_sizes(given);
    if (&member != this) return member.call(given);
  }
  for (size_t i = 0; i < given.size(); ++i) check_primal(i, given[i]);
  if (ops::current_mode() != nullptr) return trace_through(given);

  bool needs_grad = autograd::is_grad_enabled() && !backward_inputs.empty();
  if (needs_grad) {
    bool any = false;
    for (const Tensor& t : given) any = any || t.requires_grad();
    needs_grad = any;
  }
  if (!needs_grad) {
    TensorList saved;
    return run_forward(given, saved, shares_for_call());
  }

  TensorList outs = autograd::apply_function(
      "CompiledFunctionBackward", given,
      [&](autograd::FunctionContext& ctx, const TensorList& inputs) {
        TensorList saved;
        TensorList user = run_forward(inputs, saved);
        ctx.save_for_backward(std::move(saved));
        return user;
      },
      // The node outlives this call (and maybe the CompiledFunction): it owns the program.
      [this, self = shared_from_this()](autograd::FunctionContext& ctx, const TensorList& grad_outputs) {
        AG_CHECK(ctx.values.empty(),
                 "compiled {}: backward ran twice through one call; its saved values are freed after the first", name);
        ctx.values.emplace_back(true);  // the saved values are handed to the backward program below
        std::vector<Tensor> saved = std::move(ctx.saved);
        ctx.saved.clear();
        return run_backward(saved, grad_outputs);
      });
  // Outputs with no tangent carry no gradient.
  for (size_t k = 0; k < outs.size(); ++k)
    if (!has_tangent[k] && outs[k].defined()) outs[k] = outs[k].detach();
  return outs;
}

// Note [Compiled functions under a trace]: an export or make_fx whose traced code
// calls a compiled function traces through it, as torch.export traces through code
// wrapped in torch.compile: the forward graph runs op by op through the dispatcher, so
// its ops land in the outer graph and autograd records their backward there. The
// compiled program never runs on proxies (they carry no data); the saved values the
// forward graph also returns are left unused, and the export's dead-code pass drops
// them.
TensorList CompiledFunctionImpl::trace_through(const TensorList& given) const {
  warn_once("compiled-function-under-trace",
            "a compiled function called inside an export or make_fx region is traced through op by op; its compiled "
            "program is not used there (as torch.compile is ignored inside torch.export)");
  std::vector<IValue> out = graph::interpret(*partition.forward, std::vector<IValue>(given.begin(), given.end()));
  TensorList user(num_user_outputs);
  for (size_t j = 0; j < out.size(); ++j) {
    const Route& r = forward_outputs[j];
    if (r.kind == Route::Kind::UserOutput) user[r.index] = out[j].to_tensor();
    if (r.kind == Route::Kind::Mutation) aotgrad::copy_(given[r.index], out[j].to_tensor());
  }
  return user;
}

// The forward: run the program, write mutated inputs back, keep the saved values.
TensorList CompiledFunctionImpl::run_forward(const TensorList& inputs, TensorList& saved,
                                             const BatchShares* shares) const {
  std::vector<Tensor> in;
  in.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) in.push_back(with_layout(inputs[i], primal_vals[i]));
  last_shares = shares != nullptr ? shares->shares() : 1;
  std::vector<Tensor> out = shares != nullptr ? shares->run(in) : forward->run(std::move(in));
  TensorList user(num_user_outputs);
  saved.assign(num_saved, Tensor());
  for (size_t j = 0; j < out.size(); ++j) {
    const Route& r = forward_outputs[j];
    switch (r.kind) {
      case Route::Kind::UserOutput:
        user[r.index] = out[j];
        break;
      case Route::Kind::Mutation: {
        autograd::NoGradGuard no_grad;
        aotgrad::copy_(inputs[r.index].detach(), out[j]);
        break;
      }
      case Route::Kind::Saved:
        // Saved values get handles of their own: a saved value that is also returned
        // would otherwise carry the autograd node its own context belongs to (a cycle).
        saved[r.index] = out[j].defined() ? out[j].detach() : Tensor();
        break;
      default:
        break;
    }
  }
  return user;
}

TensorList CompiledFunctionImpl::run_backward(std::vector<Tensor>& saved, const TensorList& grad_outputs) const {
  std::vector<Tensor> in;
  in.reserve(backward->inputs().size());
  for (size_t k = 0; k < backward->inputs().size(); ++k) {
    const Route& r = backward_inputs[k];
    if (r.kind == Route::Kind::Saved) {
      in.push_back(std::move(saved[r.index]));
      continue;
    }
    const graph::TensorVal& want = backward->input_layout(k);
    Tensor g = r.kind == Route::Kind::Tangent ? grad_outputs[r.index] : Tensor();
    if (!g.defined()) g = Tensor::zeros(want.sizes, want.dtype);
    in.push_back(with_layout(g, want));
  }
  std::vector<Tensor> out = backward->run(std::move(in));
  TensorList grads(primals.size());
  for (size_t j = 0; j < out.size(); ++j)
    if (backward_outputs[j].kind == Route::Kind::Grad) grads[backward_outputs[j].index] = out[j];
  return grads;
}

// Which primal a descriptor names, by the joint's placeholders.
static size_t primal_index(const std::vector<const graph::Node*>& primals, const Descriptor& d) {
  for (size_t i = 0; i < primals.size(); ++i)
    if (*primals[i]->meta.desc == d) return i;
  AG_FAIL("{} names no input of the joint graph", d.str());
}

void CompiledFunctionImpl::plan_routes() {
  using Kind = Descriptor::Kind;
  const graph::Node* fw_out = partition.forward->graph->output_node();
  for (const auto& d : fw_out->meta.out_descs) {
    AG_CHECK(d.has_value(), "the forward graph has an output without a descriptor");
    switch (d->kind()) {
      case Kind::PlainOutput:
        forward_outputs.push_back({Route::Kind::UserOutput, static_cast<size_t>(d->idx())});
        num_user_outputs = std::max(num_user_outputs, static_cast<size_t>(d->idx()) + 1);
        break;
      case Kind::InputMutationOutput:
        forward_outputs.push_back({Route::Kind::Mutation, primal_index(primals, d->inner())});
        break;
      case Kind::SavedForBackwardsOutput:
        forward_outputs.push_back({Route::Kind::Saved, static_cast<size_t>(d->idx())});
        num_saved = std::max(num_saved, static_cast<size_t>(d->idx()) + 1);
        break;
      default:
        AG_FAIL("the forward graph returns {}, which a compiled function cannot route", d->str());
    }
  }
  has_tangent.assign(num_user_outputs, false);
  for (const graph::Node* p : partition.backward->graph->placeholders()) {
    const Descriptor& d = *p->meta.desc;
    if (d.kind() == Kind::SavedForBackwardsInput) {
      backward_inputs.push_back({Route::Kind::Saved, static_cast<size_t>(d.idx())});
    } else if (d.kind() == Kind::TangentInput && d.inner().kind() == Kind::PlainOutput) {
      // The user's gradient for that output arrives through the autograd node.
      backward_inputs.push_back({Route::Kind::Tangent, static_cast<size_t>(d.inner().idx())});
      has_tangent[static_cast<size_t>(d.inner().idx())] = true;
    } else {
      AG_CHECK(d.kind() == Kind::TangentInput, "the backward graph takes {}, which a compiled function cannot route",
               d.str());
      backward_inputs.push_back({Route::Kind::Zeros, 0});  // a mutated input's new value: no gradient flows back
    }
  }
  for (const auto& d : partition.backward->graph->output_node()->meta.out_descs) {
    if (d && d->kind() == Kind::GradOutput)
      backward_outputs.push_back({Route::Kind::Grad, primal_index(primals, d->inner())});
    else
      backward_outputs.push_back({Route::Kind::Dropped, 0});
  }
}

TensorList CompiledFunction::call_flat(const TensorList& primals) const {
  return impl_->call(primals);
}

pytree::Value CompiledFunction::operator()(const nn::Args& args, const nn::Kwargs& kwargs) const {
  const CompiledFunctionImpl& f = *impl_;
  const size_t num_state = f.joint.params_spec.size() + f.joint.buffers_spec.size();
  AG_CHECK(args.size() >= num_state,
           "compiled {}: expected {} parameters and {} buffers before the inputs, but got "
           "{} arguments; the compiled function takes {}",
           f.name, f.joint.params_spec.size(), f.joint.buffers_spec.size(), args.size(), f.signature());
  TensorList primals;
  for (size_t i = 0; i < num_state; ++i) {
    AG_CHECK(args[i].is_leaf() && args[i].leaf().is_tensor(),
             "compiled {}: argument {} ({}) must be a tensor; the "
             "compiled function takes {}",
             f.name, i, f.primals[i]->meta.desc->str(), f.signature());
    primals.push_back(args[i].tensor());
  }
  nn::Args user(args.begin() + static_cast<std::ptrdiff_t>(num_state), args.end());
  auto [leaves, spec] =
      pytree::flatten(pytree::Value::tuple({pytree::Value::tuple(user), pytree::Value::dict(kwargs)}));
  AG_CHECK(spec == f.joint.in_spec,
           "compiled {}: the inputs have the structure {}, but the function was exported "
           "with {}; the compiled function takes {}",
           f.name, spec.str(), f.joint.in_spec.str(), f.signature());
  for (size_t i = 0; i < leaves.size(); ++i) {
    AG_CHECK(leaves[i].is_tensor(), "compiled {}: user input {} is {}, but only tensors are inputs", f.name, i,
             leaves[i].type_name());
    primals.push_back(leaves[i].to_tensor());
  }
  TensorList outs = f.call(primals);
  std::vector<IValue> out_leaves(outs.begin(), outs.end());
  return pytree::unflatten(out_leaves, f.joint.out_spec);
}

pytree::Value CompiledFunction::call_module(nn::Module& module, const nn::Args& args, const nn::Kwargs& kwargs) const {
  const CompiledFunctionImpl& f = *impl_;
  nn::Args all;
  all.reserve(f.primals.size());
  // The module lists its tensors in the order the export saw them, unless it changed.
  auto add = [&](const nn::NamedTensors& named, const std::vector<std::string>& spec, const char* what) {
    for (size_t i = 0; i < spec.size(); ++i) {
      if (i < named.size() && named[i].first == spec[i]) {
        all.emplace_back(named[i].second);
        continue;
      }
      auto it = std::find_if(named.begin(), named.end(), [&](const auto& n) { return n.first == spec[i]; });
      AG_CHECK(it != named.end(), "compiled {}: the module has no {} '{}', which the function was exported with",
               f.name, what, spec[i]);
      all.emplace_back(it->second);
    }
  };
  add(module.named_parameters(), f.joint.params_spec, "parameter");
  add(module.named_buffers(), f.joint.buffers_spec, "buffer");
  all.insert(all.end(), args.begin(), args.end());
  return (*this)(all, kwargs);
}

std::string CompiledFunction::signature() const {
  return impl_->signature();
}
const partition::Partition& CompiledFunction::partition() const {
  return impl_->partition;
}
ProgramStats CompiledFunction::forward_stats() const {
  return impl_->forward->stats();
}
ProgramStats CompiledFunction::backward_stats() const {
  return impl_->backward->stats();
}
double CompiledFunction::compile_ms() const {
  return impl_->compile_ms;
}
int64_t CompiledFunction::last_batch_shares() const {
  return impl_->last_shares.load();
}
std::string CompiledFunction::why_no_batch_shares() const {
  const auto* why = std::get_if<std::string>(&impl_->batch_rows);
  return why != nullptr ? *why : std::string();
}
int64_t CompiledFunction::num_sizes_compiled() const {
  if (!impl_->family) return 1;
  std::lock_guard<std::mutex> lock(impl_->family->mu);
  return 1 + static_cast<int64_t>(impl_->family->by_size.size());
}
double CompiledFunction::last_size_compile_ms() const {
  if (!impl_->family) return impl_->compile_ms;
  std::lock_guard<std::mutex> lock(impl_->family->mu);
  return impl_->family->last_compile_ms;
}

// The shares for an inference call at this many threads, made on the first such call
// (nullptr: one program runs the batch).
const BatchShares* CompiledFunctionImpl::shares_for_call() const {
  const int threads = num_threads();
  const auto* rows = std::get_if<BatchRows>(&batch_rows);
  if (threads <= 1 || rows == nullptr || omp_in_parallel()) return nullptr;
  std::lock_guard<std::mutex> lock(shares_mu);
  auto it = shares_by_threads.find(threads);
  if (it != shares_by_threads.end()) return it->second.get();
  std::shared_ptr<const BatchShares> made;
  try {
    // Values saved for a backward are not needed by a call that makes none.
    std::vector<bool> wanted;
    for (const Route& r : forward_outputs) wanted.push_back(r.kind != Route::Kind::Saved);
    made = std::make_shared<BatchShares>(*partition.forward, *rows, threads, options, wanted);
  } catch (const Error& e) {
    // A rule passed what a shape rule then refused at a share's size: run whole.
    warn_once("batch-shares-failed", fmt::format("compiled {}: the batch runs whole on {} threads, since its shares "
                                                 "could not be compiled: {}",
                                                 name, threads, e.what()));
  }
  return shares_by_threads.emplace(threads, std::move(made)).first->second.get();
}

namespace {
// Why an inference call of `f` cannot run its batch in shares, or the rows it runs apart.
std::variant<BatchRows, std::string> inference_rows(const CompiledFunctionImpl& f, const CompileOptions& options) {
  if (!options.batch_shares) return std::string("batch shares are turned off");
  // Below this, a second program's start costs more than its share saves: on a 2-vCPU
  // Zen 5 VM, conv_variants' forward (2 KiB of values, 15-20 us) took 30 us in two
  // shares, digits_mlp's (68 KiB at batch 64 and more) the same either way, squeezenet's
  // (8 images of 64 x 64) 2.1 ms against 2.9.
  constexpr int64_t kMinBytesToSplit = 32 * 1024;
  const int64_t bytes = f.forward->stats().unplanned_bytes;
  if (bytes < kMinBytesToSplit)
    return fmt::format("its intermediate values take {} bytes, too little work to pay for a program per thread", bytes);
  return find_batch_rows(*f.partition.forward);
}

std::shared_ptr<CompiledFunctionImpl> compile_fixed_sizes(const exporting::JointWithDescriptors& joint,
                                                          const CompileOptions& options,
                                                          std::optional<partition::Partition> partitioned = {},
                                                          const std::map<int64_t, int64_t>& bindings = {});

// The family member at `bindings`: the symbolic partition's halves lowered at those
// sizes (Note [Lowering at a size], compile/program.h).
std::shared_ptr<CompiledFunctionImpl> compile_member(const SizeFamily& family,
                                                     const std::map<int64_t, int64_t>& bindings) {
  return compile_fixed_sizes(family.symbolic, family.options, family.symbolic_partition, bindings);
}

}  // namespace

const CompiledFunctionImpl& CompiledFunctionImpl::for_sizes(const TensorList& given) const {
  const graph::GraphModule& gm = *family->symbolic.graph_module;
  const auto phs = gm.graph->placeholders();
  std::vector<std::optional<Shape>> sizes(phs.size());
  for (size_t i = 0; i < given.size() && i < phs.size(); ++i)
    if (given[i].defined()) sizes[i] = given[i].sizes();
  std::map<int64_t, int64_t> bindings;
  try {
    bindings = graph::bind_symbols(gm, sizes);
  } catch (Error& e) {
    e.add_context(fmt::format("calling compiled {}, which takes {}", name, signature()));
    throw;
  }
  if (bindings == family->example_sizes) return *this;
  std::lock_guard<std::mutex> lock(family->mu);
  auto it = family->by_size.find(bindings);
  if (it != family->by_size.end()) return *it->second;
  const auto start = std::chrono::steady_clock::now();
  auto member = compile_member(*family, bindings);
  family->last_compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return *family->by_size.emplace(bindings, std::move(member)).first->second;
}

CompiledFunction aot_compile_joint_with_descriptors(const exporting::JointWithDescriptors& joint,
                                                    const CompileOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  AG_CHECK(joint.graph_module != nullptr, "aot_compile_joint_with_descriptors: the joint has no graph");
  std::shared_ptr<CompiledFunctionImpl> f;
  if (joint.graph_module->symbols.empty()) {
    f = compile_fixed_sizes(joint, options);
  } else {
    const std::map<int64_t, int64_t> hints = graph::hint_bindings(*joint.graph_module);
    auto family = std::make_shared<SizeFamily>();
    family->symbolic = joint;
    family->options = options;
    family->example_sizes = hints;
    graph::verify(*joint.graph_module);
    graph::verify_metadata(*joint.graph_module);
    // The size-independent passes, once: partition, cse, dce. The min cut weighs
    // values at the example's sizes (PyTorch's partitioner weighs hints too): the cut
    // it picks is valid at every size, and serves every size.
    partition::Partition p = partition::partition_joint(*joint.graph_module, options.partition);
    for (graph::GraphModule* half : {p.forward.get(), p.backward.get()}) {
      eliminate_common_subexpressions(*half);
      graph::eliminate_dead_code(*half);
    }
    family->symbolic_partition = std::move(p);
    f = compile_member(*family, hints);
    f->family = std::move(family);
  }
  f->compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  CompiledFunction result;
  result.impl_ = std::move(f);
  return result;
}

namespace {
std::shared_ptr<CompiledFunctionImpl> compile_fixed_sizes(const exporting::JointWithDescriptors& joint,
                                                          const CompileOptions& options,
                                                          std::optional<partition::Partition> partitioned,
                                                          const std::map<int64_t, int64_t>& bindings) {
  hop::register_higher_order_ops();
  auto f = std::make_shared<CompiledFunctionImpl>();
  f->name = joint.graph_module->name.empty() ? "graph" : joint.graph_module->name;
  f->joint = joint;
  try {
    CompileState state = partitioned ? run_pipeline_after_partition(std::move(*partitioned), options, bindings)
                                     : run_pipeline(joint, options);
    f->partition = std::move(state.partition);
    const auto phs = joint.graph_module->graph->placeholders();
    for (const graph::Node* p : phs) {
      AG_CHECK(p->meta.desc.has_value(), "placeholder '{}' has no descriptor", p->name());
      if (p->meta.desc->kind() == Descriptor::Kind::TangentInput) continue;
      f->primals.push_back(p);
      f->primal_vals.push_back(graph::value_at(*p, bindings).as_tensor());  // a symbolic joint's, at these sizes
    }
    AG_CHECK(static_cast<int64_t>(f->primals.size()) == joint.metadata.num_primals,
             "the graph has {} primal placeholders, but its metadata says {}", f->primals.size(),
             joint.metadata.num_primals);
    f->plan_routes();
    f->forward = state.unit("forward").draft->finish();
    f->backward = state.unit("backward").draft->finish();
    f->options = options;
    f->batch_rows = inference_rows(*f, options);
  } catch (Error& e) {
    e.add_context("while compiling " + f->name);
    throw;
  }
  return f;
}
}  // namespace

}  // namespace aotgrad::compile
