// The aotgrad command line: one file per subcommand, each registering itself here.
#pragma once

#include <CLI/CLI.hpp>

namespace aotgrad::cli {

void add_models_command(CLI::App& app);
void add_conformance_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_print_command(CLI::App& app);
void add_partition_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_demo_command(CLI::App& app);
void add_passes_command(CLI::App& app);
void add_onnx_test_command(CLI::App& app);

}  // namespace aotgrad::cli
