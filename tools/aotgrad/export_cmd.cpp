// aotgrad export --model NAME: export the joint graph of a built-in model and print it.
#include "aotgrad/models.h"
#include "commands.h"
#include "graph_output.h"
#include "support/error.h"

namespace aotgrad::cli {

void add_export_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "export the joint forward+backward graph of a model");
  auto model = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("expanded");
  auto out = std::make_shared<std::string>();
  auto decompose = std::make_shared<bool>(false);
  auto summary = std::make_shared<bool>(false);
  cmd->add_option("--model", *model, "a built-in model (see `aotgrad models`)")->required();
  cmd->add_flag("--decompose", *decompose, "apply the default decomposition table");
  cmd->add_option("--format", *format, "expanded, compact, json or dot")
      ->check(CLI::IsMember({"expanded", "compact", "json", "dot"}))
      ->capture_default_str();
  cmd->add_flag("--summary", *summary, "list inputs with their grads and outputs with their tangents");
  cmd->add_option("-o,--output", *out, "write to this file instead of stdout");
  cmd->callback([=] {
    models::Instance inst = models::instantiate(models::find_model(*model));
    exporting::ExportOptions options;
    if (*decompose) options.decompositions = trace::DecompositionTable::core();
    exporting::JointWithDescriptors joint = exporting::aot_export_joint_with_descriptors(
        *inst.module, inst.example.args, inst.example.kwargs, options);
    write_output(*summary ? joint_summary(joint) : render_joint(joint, *format), *out);
  });
}

}  // namespace aotgrad::cli
