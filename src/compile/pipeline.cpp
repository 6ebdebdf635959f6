// Note [A pipeline as data]
// Compiling a joint graph is a list of named passes, written once below (as Glow
// lists its passes): each takes the CompileState, changes it, can print it and can
// verify it. The list is what `aotgrad passes` prints, what --print-after,
// --verify-after-each and --stop-after name, and what aot_compile runs. A new pass
// (a collective insertion, a layout choice) is one entry here.
#include "compile/pipeline.h"

#include <cstdio>
#include <functional>
#include <unordered_set>

#include "support/error.h"

namespace aotgrad::compile {

namespace {
struct Pass {
  PassInfo info;
  std::function<void(CompileState&, const CompileOptions&)> run;
  std::function<std::string(const CompileState&)> print;
  std::function<void(const CompileState&)> verify;
};

std::string print_units(const CompileState& s) {
  std::string out;
  for (const CompileUnit& u : s.units) {
    out += (out.empty() ? "" : "\n") + u.name + ":\n";
    out += graph::print_readable(*u.graph, graph::PrintFormat::Compact);
  }
  return out;
}
void verify_units(const CompileState& s) {
  for (const CompileUnit& u : s.units) graph::verify(*u.graph);
}
std::string print_programs(const CompileState& s) {
  std::string out;
  for (const CompileUnit& u : s.units) {
    out += (out.empty() ? "" : "\n") + u.name + " program:\n";
    out += u.draft->program().print();
  }
  return out;
}
void verify_programs(const CompileState& s) {
  for (const CompileUnit& u : s.units) u.draft->program().verify();
}

// The layouts the forward program gives its saved values, by the backward's
// placeholder names: a backward lowered at a size takes them as the forward made them
// (its graph records only the example's layouts).
std::map<std::string, graph::TensorVal> saved_layouts(CompileState& s) {
  const Program& forward = s.unit("forward").draft->program();
  const graph::Node* out = s.partition.forward->graph->output_node();
  std::map<int64_t, const graph::TensorVal*> made;
  for (size_t i = 0; i < out->meta.out_descs.size() && i < forward.outputs().size(); ++i) {
    const auto& d = out->meta.out_descs[i];
    const int v = forward.outputs()[i];
    if (d && d->kind() == Descriptor::Kind::SavedForBackwardsOutput && v >= 0)
      made[d->idx()] = &forward.values()[static_cast<size_t>(v)].layout;
  }
  std::map<std::string, graph::TensorVal> layouts;
  for (const graph::Node* ph : s.partition.backward->graph->placeholders()) {
    const auto& d = ph->meta.desc;
    if (d && d->kind() == Descriptor::Kind::SavedForBackwardsInput && made.contains(d->idx()))
      layouts[ph->name()] = *made.at(d->idx());
  }
  return layouts;
}

void lower_units(CompileState& s, const CompileOptions& o) {
  for (CompileUnit& u : s.units) {
    LowerAt at{s.bindings, {}};
    if (!s.bindings.empty() && u.name == "backward") at.input_layouts = saved_layouts(s);
    u.draft = std::make_unique<ProgramDraft>(u.graph, o, std::move(at));
    u.draft->lower();
  }
}

const std::vector<Pass>& pipeline() {
  static const std::vector<Pass> passes = {
      {{"verify", "check the joint graph: structure, descriptors, shapes against the shape rules"},
       [](CompileState& s, const CompileOptions&) {
         graph::verify(*s.input);
         graph::verify_metadata(*s.input);
       },
       [](const CompileState& s) { return graph::print_readable(*s.input); },
       [](const CompileState&) {}},
      {{"partition",
        "split a joint graph into a forward and a backward graph (save-all or min-cut); a whole-step graph "
        "stays one"},
       [](CompileState& s, const CompileOptions& o) {
         if (!s.is_joint) {
           s.units.push_back({"step", graph::clone_module(*s.input), nullptr});
           return;
         }
         s.partition = partition::partition_joint(*s.input, o.partition);
         s.units.push_back({"forward", s.partition.forward, nullptr});
         s.units.push_back({"backward", s.partition.backward, nullptr});
       },
       print_units,
       verify_units},
      {{"cse", "merge nodes that call the same pure op on the same arguments with the same annotations"},
       [](CompileState& s, const CompileOptions&) {
         for (CompileUnit& u : s.units) eliminate_common_subexpressions(*u.graph);
       },
       print_units,
       verify_units},
      {{"dce", "remove nodes whose results nobody uses"},
       [](CompileState& s, const CompileOptions&) {
         for (CompileUnit& u : s.units) graph::eliminate_dead_code(*u.graph);
       },
       print_units,
       verify_units},
      {{"lower", "bind every node's arguments once and give every value a run-time layout"},
       lower_units,
       print_programs,
       verify_programs},
      {{"fuse", "fuse elementwise ops into loops: chains, same-shaped groups of tensors, single-element batches"},
       [](CompileState& s, const CompileOptions&) {
         for (CompileUnit& u : s.units) u.draft->fuse();
       },
       print_programs,
       verify_programs},
      {{"plan", "place intermediates in one arena by lifetime, freeze every static argument"},
       [](CompileState& s, const CompileOptions&) {
         for (CompileUnit& u : s.units) u.draft->plan();
       },
       print_programs,
       verify_programs},
  };
  return passes;
}

bool known(const std::string& name) {
  for (const Pass& p : pipeline())
    if (p.info.name == name) return true;
  return false;
}

std::string names() {
  std::string out;
  for (const Pass& p : pipeline()) out += (out.empty() ? "" : ", ") + p.info.name;
  return out;
}
}  // namespace

namespace {
// Whether a node may be merged with an identical one: an op with no effect beyond its
// result (not in place, not random, not a collective).
bool is_pure(const graph::Node& n) {
  if (n.op() != graph::NodeOp::CallFunction || n.target().kind != graph::Target::Kind::Op) return false;
  const ops::OpInfo& op = *n.target().op;
  return op.kind != ops::OpKind::InPlace && !op.has(ops::OpTag::Random) && !op.has(ops::OpTag::Collective);
}

void append_key(std::string& key, const graph::Arg& a) {
  if (a.is_node()) {
    key += fmt::format("%{}", static_cast<const void*>(a.node()));
  } else if (a.is_int()) {
    key += fmt::format("i{}", a.to_int());
  } else if (a.is_double()) {
    key += fmt::format("d{:a}", a.to_double());  // bit-exact: 0.0 and -0.0 differ
  } else if (a.is_bool()) {
    key += a.to_bool() ? "T" : "F";
  } else if (a.is_string()) {
    key += fmt::format("s{}:{}", a.str().size(), a.str());
  } else if (a.is_dtype()) {
    key += fmt::format("t{}", dtype_name(a.dtype()));
  } else if (a.is_sym()) {
    key += 'y';
    key += a.sym().str();
  } else if (a.is_list()) {
    key += "[";
    for (const graph::Arg& x : a.list()) {
      append_key(key, x);
      key += ",";
    }
    key += "]";
  } else {
    key += "N";
  }
  key += ";";
}
}  // namespace

int eliminate_common_subexpressions(graph::GraphModule& gm) {
  std::unordered_map<std::string, graph::Node*> seen;
  std::vector<graph::Node*> duplicates;
  for (const auto& n : gm.graph->nodes()) {
    if (!is_pure(*n)) continue;
    std::string key = n->target().op->qualified_name() + "(";
    for (const graph::Arg& a : n->args()) append_key(key, a);
    for (const auto& [k, a] : n->kwargs()) {
      key += k + "=";
      append_key(key, a);
    }
    key += ")";
    key += graph::annotations_str(n->meta.custom);
    auto [it, inserted] = seen.emplace(std::move(key), n.get());
    if (inserted) continue;
    n->replace_all_uses_with(it->second);
    duplicates.push_back(n.get());
  }
  for (graph::Node* n : duplicates) gm.graph->erase(n);
  return static_cast<int>(duplicates.size());
}

CompileUnit& CompileState::unit(const std::string& name) {
  for (CompileUnit& u : units)
    if (u.name == name) return u;
  AG_INTERNAL_CHECK(false, "compile: no unit '{}'", name);
  std::abort();
}

namespace {
CompileState run_passes(CompileState s, const CompileOptions& options, const std::string& stop_after,
                        const std::string& start_after = "") {
  const PipelineControls& c = options.pipeline;
  for (const std::string* name : {&c.print_after, &stop_after})
    AG_CHECK(name->empty() || *name == "all" || known(*name), "unknown pass '{}' (the passes: {})", *name, names());
  auto emit = [&](const std::string& text) {
    if (c.emit)
      c.emit(text);
    else
      std::fwrite(text.data(), 1, text.size(), stdout);
  };
  bool started = start_after.empty();
  for (const Pass& p : pipeline()) {
    if (!started) {
      started = p.info.name == start_after;
      continue;
    }
    try {
      p.run(s, options);
      if (c.verify_after_each) p.verify(s);
    } catch (Error& e) {
      e.add_context("while running pass '" + p.info.name + "'");
      throw;
    }
    if (c.print_after == "all" || c.print_after == p.info.name)
      emit(fmt::format("=== after pass '{}' ===\n{}\n", p.info.name, p.print(s)));
    if (p.info.name == stop_after) break;
  }
  return s;
}
}  // namespace

CompileState run_pipeline(const exporting::JointWithDescriptors& joint, const CompileOptions& options,
                          const std::string& stop_after) {
  CompileState s;
  s.input = joint.graph_module;
  s.is_joint = true;
  return run_passes(std::move(s), options, stop_after);
}

CompileState run_pipeline_after_partition(partition::Partition partitioned, const CompileOptions& options,
                                          const std::map<int64_t, int64_t>& bindings) {
  CompileState s;
  s.is_joint = true;
  s.bindings = bindings;
  s.partition = std::move(partitioned);
  s.units.push_back({"forward", s.partition.forward, nullptr});
  s.units.push_back({"backward", s.partition.backward, nullptr});
  return run_passes(std::move(s), options, "", "dce");
}

CompileState run_pipeline_on_step(std::shared_ptr<const graph::GraphModule> step, const CompileOptions& options,
                                  const std::string& stop_after) {
  CompileState s;
  s.input = std::move(step);
  s.is_joint = false;
  return run_passes(std::move(s), options, stop_after);
}

CompileState run_pipeline_on_step_at(std::shared_ptr<graph::GraphModule> pruned, const CompileOptions& options,
                                     const std::map<int64_t, int64_t>& bindings) {
  CompileState s;
  s.input = pruned;
  s.is_joint = false;
  s.bindings = bindings;
  s.units.push_back({"step", std::move(pruned), nullptr});
  return run_passes(std::move(s), options, "", "dce");
}

std::vector<PassInfo> compile_passes() {
  std::vector<PassInfo> out;
  for (const Pass& p : pipeline()) out.push_back(p.info);
  return out;
}

void run_compile_passes(const exporting::JointWithDescriptors& joint, const CompileOptions& options) {
  AG_CHECK(joint.graph_module != nullptr, "run_compile_passes: the joint has no graph");
  (void)run_pipeline(joint, options, options.pipeline.stop_after);
}

}  // namespace aotgrad::compile
