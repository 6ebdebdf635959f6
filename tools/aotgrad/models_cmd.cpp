// aotgrad models: list the built-in models, one per line: the name, then a description.
#include <cstdio>

#include "aotgrad/models.h"
#include "commands.h"

namespace aotgrad::cli {

void add_models_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("models", "list the built-in models");
  cmd->callback([] {
    size_t width = 0;
    for (const auto& m : models::all_models()) width = std::max(width, m.name.size());
    for (const auto& m : models::all_models())
      std::printf("%-*s  %s\n", static_cast<int>(width), m.name.c_str(), m.description.c_str());
  });
}

}  // namespace aotgrad::cli
