// aotgrad partition --model NAME: split the joint graph into forward and backward graphs.
#include <cstdio>

#include <fmt/format.h>

#include "aotgrad/export.h"
#include "aotgrad/models.h"
#include "aotgrad/partition.h"
#include "commands.h"
#include "dynamic_flags.h"
#include "graph_output.h"
#include "model_flags.h"

namespace aotgrad::cli {

namespace {
void print_report(const char* title, const partition::Partition& p) {
  std::printf("policy: %s\n", title);
  if (!p.recompute_level.empty()) std::printf("  may recompute: %s\n", p.recompute_level.c_str());
  std::printf("  saved values:\n");
  // Sizes with symbols print as expressions: "512*s0 bytes".
  auto bytes = [](const SymExpr& e, int64_t value) {
    return e.is_constant() ? std::to_string(value) : fmt::format("{} (at the example: {})", e.str(), value);
  };
  for (const auto& s : p.saved) {
    std::printf("    %-24s %-20s %10s bytes  %s\n", s.name.c_str(), s.val.c_str(), bytes(s.sym_bytes, s.bytes).c_str(),
                s.is_primal ? "(graph input)" : s.source.c_str());
  }
  if (!p.recomputed.empty()) {
    std::printf("  recomputed in the backward:\n");
    for (const auto& r : p.recomputed)
      std::printf("    %-24s %-40s %s\n", r.name.c_str(), r.op.c_str(), r.reason.c_str());
  }
  std::printf(
      "  %zu saved values, %s bytes of activations saved (%lld with graph inputs), "
      "peak activation memory %lld bytes\n\n",
      p.saved.size(), bytes(p.saved_activation_sym_bytes(), p.saved_activation_bytes()).c_str(),
      static_cast<long long>(p.saved_bytes()), static_cast<long long>(partition::peak_activation_bytes(p)));
}
}  // namespace

void add_partition_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("partition", "split a model's joint graph into forward and backward graphs");
  auto report = std::make_shared<bool>(false);
  auto format = std::make_shared<std::string>("expanded");
  auto policy = std::make_shared<std::string>("save-all");
  auto budget = std::make_shared<double>(1.0);
  auto model_flags = add_model_flags(cmd, "a built-in model (see `aotgrad models`)");
  auto dynamic = add_dynamic_flags(cmd);
  cmd->add_flag("--report", *report,
                "compare the policies: saved values with their sizes and source lines, what the min cut "
                "recomputes and why, and each policy's peak activation memory");
  cmd->add_option("--policy", *policy, "which graphs to print: save-all or min-cut")
      ->check(CLI::IsMember({"save-all", "min-cut"}))
      ->capture_default_str();
  cmd->add_option("--memory-budget", *budget,
                  "min-cut: activation memory to aim for, as a fraction of what save-all saves")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--format", *format, "expanded or compact")
      ->check(CLI::IsMember({"expanded", "compact"}))
      ->capture_default_str();
  cmd->callback([=] {
    models::Instance inst = models::instantiate(model_flags->resolve());
    exporting::ExportOptions export_options;
    export_options.dynamic = dynamic->resolve(*inst.module, inst.example.args, inst.example.kwargs);
    auto joint = exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs,
                                                              export_options);
    partition::PartitionOptions min_cut{partition::Policy::MinCut, *budget};
    if (*report) {
      print_report("save-all (save what the backward reads)", partition::partition_joint(*joint.graph_module));
      std::string title = "min-cut (memory budget " + std::to_string(*budget).substr(0, 4) + ")";
      print_report(title.c_str(), partition::partition_joint(*joint.graph_module, min_cut));
      return;
    }
    partition::Partition p = *policy == "min-cut" ? partition::partition_joint(*joint.graph_module, min_cut)
                                                  : partition::partition_joint(*joint.graph_module);
    const auto f = *format == "compact" ? graph::PrintFormat::Compact : graph::PrintFormat::Expanded;
    write_output(graph::print_readable(*p.forward, f) + "\n" + graph::print_readable(*p.backward, f), "");
  });
}

}  // namespace aotgrad::cli
