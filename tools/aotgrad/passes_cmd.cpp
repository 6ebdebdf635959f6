// aotgrad passes: list the compile pipeline's passes, in order (Note [A pipeline as data]).
#include <cstdio>

#include "aotgrad/compile.h"
#include "commands.h"

namespace aotgrad::cli {

void add_passes_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("passes", "list the compile pipeline's passes, in order");
  cmd->callback([] {
    int i = 1;
    for (const compile::PassInfo& p : compile::compile_passes())
      std::printf("%d. %-10s %s\n", i++, p.name.c_str(), p.what.c_str());
    std::printf("(run --model M --print-after PASS|all, --verify-after-each, --stop-after PASS)\n");
  });
}

}  // namespace aotgrad::cli
