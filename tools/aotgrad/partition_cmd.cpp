// aotgrad partition --model NAME: split the joint graph into forward and backward graphs.
#include <cstdio>

#include "aotgrad/export.h"
#include "aotgrad/models.h"
#include "aotgrad/partition.h"
#include "commands.h"
#include "graph_output.h"

namespace aotgrad::cli {

void add_partition_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("partition", "split a model's joint graph into forward and backward graphs");
  auto model = std::make_shared<std::string>();
  auto report = std::make_shared<bool>(false);
  auto format = std::make_shared<std::string>("expanded");
  cmd->add_option("--model", *model, "a built-in model (see `aotgrad models`)")->required();
  cmd->add_flag("--report", *report, "list the saved values and their sizes instead of the graphs");
  cmd->add_option("--format", *format, "expanded or compact")
      ->check(CLI::IsMember({"expanded", "compact"}))
      ->capture_default_str();
  cmd->callback([=] {
    models::Instance inst = models::instantiate(models::find_model(*model));
    auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs);
    partition::Partition p = partition::partition_joint(*joint.graph_module);
    if (*report) {
      std::printf("policy: save what the backward reads (default)\n");
      for (const auto& s : p.saved)
        std::printf("  %-24s %-18s %10lld bytes\n", s.name.c_str(), s.val.c_str(), static_cast<long long>(s.bytes));
      std::printf("%zu saved values, %lld bytes\n", p.saved.size(), static_cast<long long>(p.saved_bytes()));
      return;
    }
    const auto f = *format == "compact" ? graph::PrintFormat::Compact : graph::PrintFormat::Expanded;
    write_output(graph::print_readable(*p.forward, f) + "\n" + graph::print_readable(*p.backward, f), "");
  });
}

}  // namespace aotgrad::cli
