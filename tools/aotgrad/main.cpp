// aotgrad: exit 0 on success, 1 on a user error (message on stderr), 2 on bad usage.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "aotgrad/dist.h"
#include "aotgrad/version.h"
#include "commands.h"
#include "support/error.h"

int main(int argc, char** argv) {
  // Past a file-size limit a write should fail with EFBIG (an error we report, the
  // user's file untouched) rather than kill the process.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"aotgrad: joint forward+backward graphs, ahead of time"};
  // Checked before parsing: CLI11 would first insist on a subcommand.
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("aotgrad %s\n", AOTGRAD_VERSION);
    return 0;
  }
  app.footer("aotgrad --version prints the version.");
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
  aotgrad::cli::add_passes_command(app);
  aotgrad::cli::add_onnx_test_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const aotgrad::Error& e) {
    std::fprintf(stderr, "aotgrad: error: %s\n", e.what());
    aotgrad::dist::abort_job(1);
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aotgrad: internal error: %s\n", e.what());
    aotgrad::dist::abort_job(1);
    return 1;
  }
  // What the commands printed must have reached its destination (a redirect to a
  // full disk fails only here, when the buffer is flushed).
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::fprintf(stderr, "aotgrad: error: could not write to standard output: %s\n", std::strerror(errno));
    return 1;
  }
  return 0;
}
