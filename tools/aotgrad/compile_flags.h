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
  bool no_epilogues = false;
  bool no_concat_in_place = false;
  bool no_image_pipelines = false;
  bool no_batch_shares = false;
  std::string print_after, stop_after;
  bool verify_after_each = false;
  compile::CompileOptions options() const {
    compile::CompileOptions o;
    o.partition.policy = policy == "min-cut" ? partition::Policy::MinCut : partition::Policy::SaveAll;
    o.partition.memory_budget = memory_budget;
    o.fuse_pointwise = !no_fuse;
    o.reuse_buffers = !no_reuse;
    o.fuse_epilogues = !no_epilogues;
    o.concat_in_place = !no_concat_in_place;
    o.pipeline_images = !no_image_pipelines;
    o.batch_shares = !no_batch_shares;
    o.pipeline.print_after = print_after;
    o.pipeline.stop_after = stop_after;
    o.pipeline.verify_after_each = verify_after_each;
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
  cmd->add_flag("--no-epilogues", flags->no_epilogues,
                "do not hand a convolution the elementwise op that reads its output (its ReLU)");
  cmd->add_flag("--no-concat-in-place", flags->no_concat_in_place,
                "copy a concatenation's inputs into it rather than have their producers write them there");
  cmd->add_flag("--no-image-pipelines", flags->no_image_pipelines,
                "run a convolution and the max pool after it each over the whole batch, not image by image");
  cmd->add_flag("--no-batch-shares", flags->no_batch_shares,
                "run an inference call's whole batch through one program, its kernels split over the threads, "
                "rather than one program per thread on its share of the rows");
  cmd->add_option("--print-after", flags->print_after,
                  "print the state after this pass, or after all (aotgrad passes)");
  cmd->add_flag("--verify-after-each", flags->verify_after_each, "run each pass's verifier after it");
  cmd->add_option("--stop-after", flags->stop_after, "stop the compile pipeline after this pass (nothing runs)");
  return flags;
}

}  // namespace aotgrad::cli
