// aotgrad run --model NAME [--check]: compile the joint graph and run one training step.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "aotgrad/autograd.h"
#include "aotgrad/export.h"
#include "aotgrad/models.h"
#include "aotgrad/ops.h"
#include "commands.h"
#include "compile_flags.h"
#include "conformance/compiled_step.h"
#include "dynamic_flags.h"
#include "model_flags.h"
#include "optimizer_flags.h"
#include "run_graph.h"
#include "run_train_step.h"
#include "support/error.h"

namespace aotgrad::cli {

void print_kernel_table(compile::KernelProfile prof, int steps, double wall) {
  std::sort(prof.entries.begin(), prof.entries.end(), [](const auto& a, const auto& b) { return a.ms > b.ms; });
  double kernels = 0;
  for (const auto& e : prof.entries) kernels += e.ms;
  std::printf("\n%-56s %-14s %8s %12s %8s\n", "kernel", "phase", "calls", "ms/step", "share");
  for (const auto& e : prof.entries)
    std::printf("%-56.56s %-14s %8lld %12.4f %7.1f%%\n", e.kernel.c_str(), e.phase.c_str(),
                static_cast<long long>(e.calls / steps), e.ms / steps, 100 * e.ms / wall);
  std::printf("kernels %.4f ms/step of %.4f ms/step wall (the rest: calling convention, autograd, allocation)\n",
              kernels / steps, wall / steps);
}

void print_stats(const char* which, const compile::ProgramStats& s) {
  std::printf(
      "%s: %lld nodes -> %lld kernel calls (%lld fused loops covering %lld ops; %lld epilogues; "
      "%lld concatenations in place (%lld slices); %lld image pipelines; %lld multi-tensor loops for %lld; "
      "%lld single-element batches of %lld ops), "
      "arena %lld bytes (%lld unshared), %lld outputs over dying inputs, %lld updates in place\n",
      which, static_cast<long long>(s.nodes), static_cast<long long>(s.kernels), static_cast<long long>(s.fused_groups),
      static_cast<long long>(s.fused_ops), static_cast<long long>(s.epilogues),
      static_cast<long long>(s.concatenations_in_place), static_cast<long long>(s.slices_in_place),
      static_cast<long long>(s.image_pipelines), static_cast<long long>(s.multi_tensor_loops),
      static_cast<long long>(s.multi_tensor_members), static_cast<long long>(s.single_element_batches),
      static_cast<long long>(s.single_element_ops), static_cast<long long>(s.arena_bytes),
      static_cast<long long>(s.unplanned_bytes), static_cast<long long>(s.reused_in_place),
      static_cast<long long>(s.outputs_in_place));
}

namespace {
// Runs `steps` forward+backward steps under a ProfileScope and prints the kernels
// by total time.
void print_profile(const compile::CompiledFunction& f, models::Instance& inst, int steps) {
  compile::KernelProfile prof;
  const auto start = std::chrono::steady_clock::now();
  {
    compile::ProfileScope scope(prof);
    for (int i = 0; i < steps; ++i) {
      for (auto [name, p] : inst.module->named_parameters()) p.set_grad(Tensor());
      auto [leaves, spec] = pytree::flatten(f.call_module(*inst.module, inst.example.args, inst.example.kwargs));
      TensorList roots, seeds;
      for (const IValue& l : leaves) {
        if (!l.to_tensor().requires_grad()) continue;
        roots.push_back(l.to_tensor());
        seeds.push_back(ones_like(l.to_tensor()));
      }
      if (!roots.empty()) autograd::backward(roots, seeds);
    }
  }
  const double wall = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  print_kernel_table(prof, steps, wall);
}
// run --check: one compiled training step against eager, tensor by tensor.
void check_against_eager(const models::ModelInfo& info, const compile::CompileOptions& options, bool decompose) {
  // A decomposed graph sums in other orders than the fused eager kernels (batch-norm
  // statistics, say): compare it at a float32 reduction's tolerance.
  conformance::StepComparison c = decompose ? conformance::compare_compiled_step(info, options, true, 1e-3, 1e-4)
                                            : conformance::compare_compiled_step(info, options);
  std::printf("%-40s %14s\n", "compiled vs eager", "max |diff|");
  for (const auto& d : c.diffs)
    std::printf("%-40s %14.3g %s\n", d.what.c_str(), d.max_abs_diff, d.ok ? "" : "  MISMATCH");
  if (!c.problem.empty()) std::printf("%s\n", c.problem.c_str());
  AG_CHECK(c.passed, "run --check: the compiled step of {} differs from eager (see above)", info.name);
  std::printf("%s: compiled step matches eager (%zu tensors compared; compile %.1f ms; %lld + %lld fused loops)\n",
              info.name.c_str(), c.diffs.size(), c.compile_ms, static_cast<long long>(c.forward.fused_groups),
              static_cast<long long>(c.backward.fused_groups));
}
// run --check --dynamic ... --batches 1,3 [--seq-lens 17,64]: one export, one compiled
// function, checked against eager at every size.
void check_sizes(const models::ModelInfo& info, const compile::CompileOptions& options, const DynamicFlags& dynamic,
                 const std::vector<int64_t>& batches, const std::vector<int64_t>& seq_lens) {
  models::Instance inst = models::instantiate(info);
  exporting::ExportOptions export_options;
  export_options.dynamic = dynamic.resolve(*inst.module, inst.example.args, inst.example.kwargs);
  const int64_t traces_before = trace::traces_started();
  auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs,
                                                            export_options);
  compile::CompiledFunction f = compile::aot_compile_joint_with_descriptors(joint, options);
  std::printf("exported %s once: %s\n", info.name.c_str(), f.signature().c_str());
  std::vector<exporting::DynamicDim> batch_dims, seq_dims;
  for (const auto& d : export_options.dynamic) (d.dim == 0 ? batch_dims : seq_dims).push_back(d);
  AG_CHECK(!batches.empty() || !seq_lens.empty(), "run --dynamic: give --batches and/or --seq-lens to check at");
  AG_CHECK(seq_lens.empty() || !seq_dims.empty(), "run --seq-lens: no input has a dynamic dim 1 (--dynamic x:1)");
  const std::vector<int64_t> bs = batches.empty() ? std::vector<int64_t>{0} : batches;
  const std::vector<int64_t> ls = seq_lens.empty() ? std::vector<int64_t>{0} : seq_lens;
  bool all_ok = true;
  uint64_t seed = 1;
  for (int64_t b : bs)
    for (int64_t l : ls) {
      models::Example ex = inst.example;
      if (b > 0) ex = conformance::resized_example(ex, batch_dims, b, seed++);
      if (l > 0) ex = conformance::resized_example(ex, seq_dims, l, seed++);
      const int64_t sizes_before = f.num_sizes_compiled();
      conformance::StepComparison c = conformance::compare_compiled_step_at(info, f, ex);
      double worst = 0;
      for (const auto& d : c.diffs) worst = std::max(worst, d.max_abs_diff);
      const std::string at = (b > 0 ? fmt::format("batch {}", b) : std::string()) +
                             (l > 0 ? fmt::format("{}seq {}", b > 0 ? ", " : "", l) : std::string());
      const std::string compiled =
          f.num_sizes_compiled() > sizes_before ? fmt::format("compiled for it in {:.2f} ms", c.compile_ms) : "";
      std::printf("%-20s %zu tensors, max |diff| %.3g %s %s\n", at.c_str(), c.diffs.size(), worst,
                  c.passed ? "match eager" : "MISMATCH", compiled.c_str());
      if (!c.problem.empty()) std::printf("  %s\n", c.problem.c_str());
      all_ok = all_ok && c.passed;
    }
  std::printf("traces: %lld; sizes compiled: %lld\n", static_cast<long long>(trace::traces_started() - traces_before),
              static_cast<long long>(f.num_sizes_compiled()));
  AG_CHECK(all_ok, "run --check: the compiled step of {} differs from eager at some size (see above)", info.name);
}

// run --model NAME: one compiled training step of the model's joint graph.
void run_joint_step(const models::ModelInfo& info, const compile::CompileOptions& options, bool decompose,
                    int profile) {
  models::Instance inst = models::instantiate(info);
  exporting::ExportOptions export_options;
  if (decompose) export_options.decompositions = trace::DecompositionTable::core();
  auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs,
                                                            export_options);
  if (!options.pipeline.stop_after.empty()) {
    compile::run_compile_passes(joint, options);
    std::printf("stopped after pass '%s'\n", options.pipeline.stop_after.c_str());
    return;
  }
  compile::CompiledFunction f = compile::aot_compile_joint_with_descriptors(joint, options);
  std::printf("compiled %s in %.1f ms: %s\n", info.name.c_str(), f.compile_ms(), f.signature().c_str());
  print_stats("forward ", f.forward_stats());
  print_stats("backward", f.backward_stats());
  std::printf("saved for backward: %zu values, %lld bytes of activations\n", f.partition().saved.size(),
              static_cast<long long>(f.partition().saved_activation_bytes()));
  auto [leaves, spec] = pytree::flatten(f.call_module(*inst.module, inst.example.args, inst.example.kwargs));
  TensorList roots, seeds;
  for (size_t i = 0; i < leaves.size(); ++i) {
    const Tensor& t = leaves[i].to_tensor();
    std::printf("output %zu: %s%s\n", i, t.describe().c_str(),
                t.numel() == 1 ? fmt::format(" = {:.6g}", t.to_vector<double>()[0]).c_str() : "");
    if (t.requires_grad()) {
      roots.push_back(t);
      seeds.push_back(ones_like(t));
    }
  }
  if (!roots.empty()) autograd::backward(roots, seeds);
  int64_t with_grad = 0;
  for (const auto& [name, p] : inst.module->named_parameters()) with_grad += p.grad().defined() ? 1 : 0;
  std::printf("backward filled .grad of %lld parameters\n", static_cast<long long>(with_grad));
  if (profile > 0) print_profile(f, inst, profile);
}
}  // namespace

void add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "compile a model's joint graph and run one training step");
  auto check = std::make_shared<bool>(false);
  auto profile = std::make_shared<int>(0);
  auto decompose = std::make_shared<bool>(false);
  auto graph_file = std::make_shared<std::string>();
  auto inputs = std::make_shared<std::string>();
  auto save_inputs = std::make_shared<std::string>();
  auto model_flags = add_model_flags(cmd, "a built-in model (see `aotgrad models`)");
  cmd->add_option("--graph", *graph_file, "a saved joint or graph file (`export --format json`)");
  cmd->add_option("--inputs", *inputs, "--graph: inputs by descriptor, in the checkpoint format");
  cmd->add_option("--save-inputs", *save_inputs, "--graph: write the inputs used there");
  cmd->add_flag("--check", *check, "compare outputs, gradients and buffer updates with eager execution");
  cmd->add_flag("--decompose", *decompose, "export with the default decomposition table (prims) before compiling");
  cmd->add_option("--profile", *profile, "run N more training steps and print the time spent in each kernel")
      ->check(CLI::NonNegativeNumber);
  auto flags = add_compile_flags(cmd);
  auto print_program = std::make_shared<bool>(false);
  cmd->add_flag("--print-program", *print_program,
                "print the compiled programs: schedule, fused groups, arena offsets (--print-after plan)");
  auto train_step = std::make_shared<bool>(false);
  cmd->add_flag("--train-step", *train_step, "compile and run the whole training step as one graph");
  auto optimizer = add_optimizer_flags(cmd);
  auto dynamic = add_dynamic_flags(cmd);
  auto batches = std::make_shared<std::vector<int64_t>>();
  auto seq_lens = std::make_shared<std::vector<int64_t>>();
  cmd->add_option("--batches", *batches, "--check --dynamic: the batch sizes to check the one compiled function at")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seq-lens", *seq_lens, "--check --dynamic: the sizes of dim 1 (sequence) to check at")
      ->delimiter(',')
      ->check(CLI::PositiveNumber);
  cmd->callback([=] {
    if (*print_program && flags->print_after.empty()) flags->print_after = "plan";
    if (!graph_file->empty()) return run_graph_file(*graph_file, {*check, *inputs, *save_inputs, flags->options()});
    AG_CHECK(model_flags->given(), "run: give --model NAME, --onnx FILE or --graph FILE");
    AG_CHECK(graph_file->empty(), "run: --graph replaces --model / --onnx");
    const models::ModelInfo info = model_flags->resolve();
    if (*train_step) return run_train_step(info, *optimizer, flags->options(), *check, *profile);
    AG_CHECK(!dynamic->any() || (*check && !*train_step && !*decompose),
             "run: --dynamic goes with --check (and --batches/--seq-lens) on a joint graph");
    if (dynamic->any()) return check_sizes(info, flags->options(), *dynamic, *batches, *seq_lens);
    if (*check) return check_against_eager(info, flags->options(), *decompose);
    run_joint_step(info, flags->options(), *decompose, *profile);
  });
}

}  // namespace aotgrad::cli
