// aotgrad: exit 0 on success, 1 on a user error (message on stderr), 2 on bad usage.
#include <cstdio>

#include "commands.h"
#include "support/error.h"

int main(int argc, char** argv) {
  CLI::App app{"aotgrad: joint forward+backward graphs, ahead of time"};
  app.require_subcommand(1);
  aotgrad::cli::add_models_command(app);
  aotgrad::cli::add_conformance_command(app);
  aotgrad::cli::add_export_command(app);
  aotgrad::cli::add_print_command(app);
  aotgrad::cli::add_partition_command(app);
  aotgrad::cli::add_run_command(app);
  aotgrad::cli::add_train_command(app);
  aotgrad::cli::add_bench_command(app);
  aotgrad::cli::add_demo_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const aotgrad::Error& e) {
    std::fprintf(stderr, "aotgrad: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aotgrad: internal error: %s\n", e.what());
    return 1;
  }
  return 0;
}
