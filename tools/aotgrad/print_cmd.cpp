// aotgrad print FILE.json: print a saved joint graph (or a bare graph file).
#include <fstream>
#include <sstream>

#include "commands.h"
#include "graph_output.h"
#include "support/error.h"
#include "support/json_input.h"

namespace aotgrad::cli {

void add_print_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("print", "print a saved graph");
  auto file = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("expanded");
  auto out = std::make_shared<std::string>();
  auto summary = std::make_shared<bool>(false);
  cmd->add_option("file", *file, "a graph saved with `export --format json -o FILE`")->required();
  cmd->add_option("--format", *format, "expanded, compact, json or dot")
      ->check(CLI::IsMember({"expanded", "compact", "json", "dot"}))
      ->capture_default_str();
  cmd->add_flag("--summary", *summary, "list inputs with their grads and outputs with their tangents");
  cmd->add_option("-o,--output", *out, "write to this file instead of stdout");
  cmd->callback([=] {
    std::ifstream in(*file, std::ios::binary);
    AG_CHECK(in.good(), "print: cannot open '{}'", *file);
    std::stringstream text;
    text << in.rdbuf();
    try {
      // A graph file (a whole training step, a captured forward) or a joint file.
      const nlohmann::json doc = parse_untrusted_json(text.str(), fmt::format("'{}'", *file));
      if (doc.is_object() && doc.value("format", "") == "aotgrad-graph") {
        auto gm = graph::from_json(text.str());
        write_output(*summary ? graph_summary(*gm) : render_graph(*gm, *format), *out);
        return;
      }
      exporting::JointWithDescriptors joint = exporting::joint_from_json(text.str());
      write_output(*summary ? joint_summary(joint) : render_joint(joint, *format), *out);
    } catch (Error& e) {
      e.add_context("while reading '" + *file + "'");
      throw;
    }
  });
}

}  // namespace aotgrad::cli
