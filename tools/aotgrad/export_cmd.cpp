// aotgrad export --model NAME: export the joint graph of a built-in model (or, with
// --train-step, its whole training step) and print it.
#include <optional>

#include "aotgrad/models.h"
#include "commands.h"
#include "dynamic_flags.h"
#include "graph_output.h"
#include "model_flags.h"
#include "optimizer_flags.h"
#include "parallel_flags.h"
#include "support/error.h"

namespace aotgrad::cli {

namespace {
// get_ordered_seq_nr_groups: the top-level groups, then each subgraph's under a header.
std::string seq_nr_listing(const graph::GraphModule& gm) {
  std::string text;
  auto print_groups = [&text](const graph::GraphModule& g) {
    for (const auto& group : exporting::get_ordered_seq_nr_groups(g)) {
      std::string items;
      for (const std::string& n : group) items += (items.empty() ? "'" : ", '") + n + "'";
      text += "[" + items + "]\n";
    }
  };
  print_groups(gm);
  for (const auto& [name, sub] : gm.subgraphs) {
    text += "# " + name + "\n";
    print_groups(*sub);
  }
  return text;
}

exporting::TrainStepGraph export_train_step(const models::ModelInfo& info, models::Instance& inst,
                                            const OptimizerFlags& optimizer, const exporting::ExportOptions& options,
                                            bool from_captured) {
  AG_CHECK(!from_captured, "export --train-step: --from-captured is for joint graphs");
  StepBatch b = step_batch_for(info, inst, optimizer.loss);
  exporting::TrainStepOptions o;
  o.loss = b.loss;
  o.rule = optimizer.rule(0.05, 0.9);
  o.clip_max_norm = optimizer.clip();
  o.export_options = options;
  return exporting::aot_export_train_step(*inst.module, b.batch, o);
}

exporting::JointWithDescriptors export_joint(models::Instance& inst, const exporting::ExportOptions& options,
                                             bool from_captured) {
  if (!from_captured)
    return exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs, options);
  // Through the file format, as a user who saved the capture would.
  exporting::ExportOptions capture_options;
  capture_options.record_stack_traces = options.record_stack_traces;
  auto captured = graph::from_json(graph::to_json(
      *exporting::capture_forward(*inst.module, inst.example.args, inst.example.kwargs, capture_options)));
  return exporting::aot_export_joint_with_descriptors(*captured, inst.example.args, inst.example.kwargs, options);
}
}  // namespace

void add_export_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "export the joint forward+backward graph of a model");
  auto format = std::make_shared<std::string>("expanded");
  auto out = std::make_shared<std::string>();
  auto decompose = std::make_shared<bool>(false);
  auto summary = std::make_shared<bool>(false);
  auto custom_metadata = std::make_shared<bool>(false);
  auto seq_nr_groups = std::make_shared<bool>(false);
  auto no_stack_traces = std::make_shared<bool>(false);
  auto from_captured = std::make_shared<bool>(false);
  auto model_flags = add_model_flags(cmd, "a built-in model (see `aotgrad models`)");
  cmd->add_flag("--decompose", *decompose, "apply the default decomposition table");
  cmd->add_option("--format", *format, "expanded, compact, json or dot")
      ->check(CLI::IsMember({"expanded", "compact", "json", "dot"}))
      ->capture_default_str();
  cmd->add_flag("--summary", *summary, "list inputs with their grads and outputs with their tangents");
  cmd->add_flag("--custom-metadata", *custom_metadata, "print get_custom_metadata's listing instead of the graph");
  cmd->add_flag("--seq-nr-groups", *seq_nr_groups, "print get_ordered_seq_nr_groups instead of the graph");
  cmd->add_flag("--from-captured", *from_captured,
                "capture the forward graph first (saved to JSON and loaded back), then export from it");
  cmd->add_flag("--no-stack-traces", *no_stack_traces, "do not record stack traces on the nodes");
  cmd->add_option("-o,--output", *out, "write to this file instead of stdout");
  auto train_step = std::make_shared<bool>(false);
  cmd->add_flag("--train-step", *train_step,
                "export the whole training step (loss, backward, clipping, optimizer) as one graph");
  auto optimizer = add_optimizer_flags(cmd);
  auto parallel = add_parallel_flags(cmd, /*with_world_size=*/true);
  auto dynamic = add_dynamic_flags(cmd);
  cmd->callback([=] {
    const models::ModelInfo info = model_flags->resolve();
    models::Instance inst = models::instantiate(info);
    exporting::ExportOptions options;
    if (*decompose) options.decompositions = trace::DecompositionTable::core();
    options.record_stack_traces = !*no_stack_traces;
    AG_CHECK(parallel->parallel == "fsdp" || parallel->world_size == 0,
             "export: --world-size is for --parallel fsdp (the shards' count); ddp's graph does not depend on it");
    AG_CHECK(parallel->parallel != "fsdp" || parallel->world_size > 0,
             "export: --parallel fsdp needs --world-size N, the number of ranks the parameters are sharded across");
    parallel->apply(options, parallel->world_size);
    options.dynamic = dynamic->resolve(*inst.module, inst.example.args, inst.example.kwargs);
    exporting::JointWithDescriptors joint;
    std::optional<exporting::TrainStepGraph> step;
    if (*train_step)
      step = export_train_step(info, inst, *optimizer, options, *from_captured);
    else
      joint = export_joint(inst, options, *from_captured);
    const graph::GraphModule& gm = step ? *step->graph_module : *joint.graph_module;
    std::string text;
    if (*custom_metadata) {
      for (const std::string& line : exporting::get_custom_metadata(gm)) text += line + "\n";
    } else if (*seq_nr_groups) {
      text = seq_nr_listing(gm);
    } else if (step) {
      text = *summary ? train_step_summary(*step) : render_graph(gm, *format);
    } else {
      text = *summary ? joint_summary(joint) : render_joint(joint, *format);
    }
    write_output(text, *out);
  });
}

}  // namespace aotgrad::cli
