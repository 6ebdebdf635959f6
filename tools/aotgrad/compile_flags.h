// The compile options every command that compiles takes (--policy, --memory-budget, --no-fuse).
#pragma once

#include <memory>

#include <CLI/CLI.hpp>

#include "aotgrad/compile.h"

namespace aotgrad::cli {

struct CompileFlags {
  std::string policy = "save-all";
  double memory_budget = 1.0;
  bool no_fuse = false;
  bool no_reuse = false;
  compile::CompileOptions options() const {
    compile::CompileOptions o;
    o.partition.policy = policy == "min-cut" ? partition::Policy::MinCut : partition::Policy::SaveAll;
    o.partition.memory_budget = memory_budget;
    o.fuse_pointwise = !no_fuse;
    o.reuse_buffers = !no_reuse;
    return o;
  }
};

inline std::shared_ptr<CompileFlags> add_compile_flags(CLI::App* cmd) {
  auto flags = std::make_shared<CompileFlags>();
  cmd->add_option("--policy", flags->policy, "what the forward saves: save-all or min-cut (recompute cheap ops)")
      ->check(CLI::IsMember({"save-all", "min-cut"}))
      ->capture_default_str();
  cmd->add_option("--memory-budget", flags->memory_budget,
                  "min-cut: activation memory to aim for, as a fraction of what save-all saves")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_flag("--no-fuse", flags->no_fuse, "do not fuse chains of elementwise ops");
  cmd->add_flag("--no-reuse", flags->no_reuse, "do not let elementwise ops write over dying inputs");
  return flags;
}

}  // namespace aotgrad::cli
