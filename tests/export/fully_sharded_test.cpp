// The fully-sharded pass in one process: shards and their inverse, where the pass
// puts its collectives, and that a step sharded across a world of one trains exactly
// as the plain step (the collectives are then the identity). Across ranks:
// tests/mpi/parallel_equivalence.cpp and tests/e2e/parallel_test.sh.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "aotgrad/compile.h"
#include "aotgrad/export.h"
#include "aotgrad/models.h"
#include "aotgrad/ops.h"
#include "aotgrad/train_step.h"
#include "ops/registry.h"
#include "test_util.h"

using namespace aotgrad;
using aotgrad::testing::error_of;

namespace {
exporting::FullyShardedOptions world(int64_t n, bool reshard = true,
                                     exporting::ShardGroups groups = exporting::ShardGroups::Module) {
  exporting::FullyShardedOptions o;
  o.world_size = n;
  o.reshard_after_forward = reshard;
  o.groups = groups;
  o.min_group_bytes = 0;  // mlp_small's layers are small: one group per Linear
  return o;
}

bool calls(const graph::Node& n, ops::OpId op) {
  return n.op() == graph::NodeOp::CallFunction && n.target().kind == graph::Target::Kind::Op && n.target().op->id == op;
}

// The all_gather_into_tensor nodes that read `n`, directly or through the flattening
// views and the cat of a group's shards.
std::vector<const graph::Node*> gathers_reading(const graph::Node* n) {
  std::vector<const graph::Node*> found;
  for (const graph::Node* u : n->users()) {
    if (calls(*u, ops::OpId::c10d_all_gather_into_tensor)) found.push_back(u);
    if (calls(*u, ops::OpId::view) || calls(*u, ops::OpId::cat))
      for (const graph::Node* g : gathers_reading(u)) found.push_back(g);
  }
  return found;
}

const graph::Node* param_named(const graph::Graph& g, const std::string& fqn) {
  for (const graph::Node* p : g.placeholders())
    if (p->meta.desc->kind() == Descriptor::Kind::ParamInput && p->meta.desc->target() == fqn) return p;
  return nullptr;
}

// mlp_small's training step, sharded across `n` ranks.
struct Step {
  models::Instance inst = models::instantiate(models::find_model("mlp_small"));
  exporting::TrainStepOptions options;
  exporting::TrainStepGraph graph;
  explicit Step(int64_t n) {
    options.loss = exporting::LossKind::ModelOutput;
    options.export_options.fully_sharded = world(n);
    graph = exporting::aot_export_train_step(*inst.module, inst.example.args, options);
  }
};

exporting::JointWithDescriptors fsdp_joint(const std::string& model, exporting::FullyShardedOptions o) {
  models::Instance inst = models::instantiate(models::find_model(model));
  exporting::ExportOptions options;
  options.record_stack_traces = false;
  options.fully_sharded = o;
  return exporting::aot_export_joint_with_descriptors(*inst.module, inst.example.args, inst.example.kwargs, options);
}
}  // namespace

TEST(FullySharded, ShardsPadDimZeroAndUnshardDropsThePadding) {
  EXPECT_EQ(exporting::shard_sizes({10, 3}, 4), (Shape{3, 3}));
  EXPECT_EQ(exporting::shard_sizes({}, 2), (Shape{1}));
  Tensor full = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {5, 2});
  Tensor r0 = exporting::shard_of(full, 0, 2), r1 = exporting::shard_of(full, 1, 2);
  EXPECT_EQ(r0.to_vector<float>(), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(r1.to_vector<float>(), (std::vector<float>{6, 7, 8, 9, 0, 0}));  // padded with a zero row
  Tensor back = exporting::unshard(cat({r0, r1}, 0), {5, 2});
  EXPECT_EQ(back.sizes(), (Shape{5, 2}));
  EXPECT_EQ(back.to_vector<float>(), full.to_vector<float>());
  // A 0-d tensor is sharded as [1]: rank 0 holds it, the others a zero.
  Tensor scalar = scalar_tensor(3.5, DType::Float32);
  EXPECT_EQ(exporting::shard_of(scalar, 1, 2).to_vector<float>(), (std::vector<float>{0}));
  EXPECT_EQ(exporting::unshard(cat({exporting::shard_of(scalar, 0, 2), exporting::shard_of(scalar, 1, 2)}, 0), {})
                .item<float>(),
            3.5f);
  EXPECT_NE(error_of([&] { exporting::shard_of(full, 2, 2); }).find("rank 2 is not in a world of 2"),
            std::string::npos);
}

TEST(FullySharded, ShardGroupsAreModulesOfOneDtypeSmallOnesTogether) {
  using Groups = std::vector<std::vector<size_t>>;
  std::vector<exporting::ShardedParam> params = {{"a.0.weight", 4000, DType::Float32}, {"a.0.bias", 40, DType::Float32},
                                                 {"a.1.weight", 4000, DType::Float32}, {"a.1.bias", 40, DType::Float32},
                                                 {"scale", 8, DType::Float32},         {"shift", 8, DType::Float32},
                                                 {"b.w", 100, DType::Float32}};
  exporting::FullyShardedOptions o;
  o.min_group_bytes = 0;  // each module's own parameters
  EXPECT_EQ(exporting::shard_groups(params, o), (Groups{{0, 1}, {2, 3}, {4, 5}, {6}}));
  o.min_group_bytes = 1000;  // the root's 16 bytes take in b's parameters
  EXPECT_EQ(exporting::shard_groups(params, o), (Groups{{0, 1}, {2, 3}, {4, 5, 6}}));
  o.min_group_bytes = 5000;  // a.0 (4040 bytes) takes in a.1, and then it is large enough
  EXPECT_EQ(exporting::shard_groups(params, o), (Groups{{0, 1, 2, 3}, {4, 5, 6}}));
  params[1].dtype = DType::Float64;  // one collective moves one dtype
  EXPECT_EQ(exporting::shard_groups(params, o), (Groups{{0}, {1}, {2, 3, 4, 5, 6}}));
  o.groups = exporting::ShardGroups::Parameter;
  EXPECT_EQ(exporting::shard_groups(params, o), (Groups{{0}, {1}, {2}, {3}, {4}, {5}, {6}}));
  // Large parameters alone (gathered without a copy out); the small ones by module,
  // and past the large ones while a group is under min_group_bytes.
  params[1].dtype = DType::Float32;
  o.groups = exporting::ShardGroups::Module;
  o.own_group_bytes = 4000;
  o.min_group_bytes = 0;
  EXPECT_EQ(exporting::shard_groups(params, o), (Groups{{0}, {1}, {2}, {3}, {4, 5}, {6}}));
  o.min_group_bytes = 1000;
  EXPECT_EQ(exporting::shard_groups(params, o), (Groups{{0}, {1, 3, 4, 5, 6}, {2}}));
}

TEST(FullySharded, LargeParametersAreGatheredStraightIntoTheirTensors) {
  // mlp_large's 3 and 4 MiB weights are groups of their own: each one's gather reads
  // only its shard, and what the forward multiplies is the gathered tensor itself (no
  // copy out of a shared group's rows); their biases are gathered together.
  exporting::FullyShardedOptions o = world(2);
  o.min_group_bytes = int64_t{256} << 10;  // the default
  exporting::JointWithDescriptors j = fsdp_joint("mlp_large", o);
  const graph::Graph& g = *j.graph_module->graph;
  for (const char* fqn : {"net.0.weight", "net.2.weight"}) {
    const graph::Node* p = param_named(g, fqn);
    ASSERT_NE(p, nullptr) << fqn;
    const std::vector<const graph::Node*> gathers = gathers_reading(p);
    ASSERT_FALSE(gathers.empty()) << fqn;
    for (const graph::Node* gather : gathers) {
      EXPECT_EQ(gather->args()[0].node(), p) << fqn;  // its own shard, not a cat of several
      for (const graph::Node* wait : gather->users())
        for (const graph::Node* reader : wait->users()) EXPECT_FALSE(calls(*reader, ops::OpId::clone)) << fqn;
    }
  }
  const std::vector<const graph::Node*> bias = gathers_reading(param_named(g, "net.0.bias"));
  ASSERT_FALSE(bias.empty());
  EXPECT_EQ(bias, gathers_reading(param_named(g, "net.2.bias")));
}

// The collectives of mlp_small's joint graph on 2 ranks: every parameter is a shard
// gathered before the forward reads it, every wait comes after its start and before
// its readers, and each gradient output is a reduce-scattered shard.
void check_collectives(exporting::ShardGroups groups, int collectives_per_pass, int regathers) {
  exporting::JointWithDescriptors j = fsdp_joint("mlp_small", world(2, true, groups));
  const graph::Graph& g = *j.graph_module->graph;
  std::map<const graph::Node*, size_t> at;
  for (size_t i = 0; i < g.nodes().size(); ++i) at[g.nodes()[i].get()] = i;
  int params = 0;
  for (const graph::Node* p : g.placeholders()) {
    if (p->meta.desc->kind() != Descriptor::Kind::ParamInput) continue;
    ++params;
    // net.0.weight [128, 64] is held as [64, 64]; every parameter is gathered at least once.
    if (p->meta.desc->target() == "net.0.weight") {
      EXPECT_EQ(p->meta.val.as_tensor().sizes, (Shape{64, 64}));
    }
    EXPECT_GE(gathers_reading(p).size(), 1u) << p->name();
  }
  EXPECT_EQ(params, 6);
  int waits = 0, scatters = 0;
  for (const auto& n : g.nodes()) {
    scatters += calls(*n, ops::OpId::c10d_reduce_scatter_tensor);
    if (!calls(*n, ops::OpId::c10d_wait_tensor)) continue;
    ++waits;
    const graph::Node* started = n->args()[0].node();
    EXPECT_LT(at[started], at[n.get()]);
    for (const graph::Node* reader : n->users()) EXPECT_LT(at[n.get()], at[reader]);
  }
  EXPECT_EQ(scatters, collectives_per_pass);
  EXPECT_EQ(waits, 2 * collectives_per_pass + regathers);
  // Every gradient output is its parameter's shard, made from a reduce-scatter's wait.
  const graph::Node* out = g.output_node();
  int grads = 0;
  for (size_t i = 0; i < out->meta.out_descs.size(); ++i) {
    const auto& d = out->meta.out_descs[i];
    if (!d || d->kind() != Descriptor::Kind::GradOutput) continue;
    ++grads;
    const graph::Node* grad = out->args()[0].list()[i].node();
    while (!calls(*grad, ops::OpId::c10d_wait_tensor) && !grad->input_nodes().empty()) grad = grad->input_nodes()[0];
    EXPECT_TRUE(calls(*grad, ops::OpId::c10d_wait_tensor)) << grad->name();
    EXPECT_EQ(out->args()[0].list()[i].node()->meta.val.as_tensor().sizes,
              param_named(g, d->inner().target())->meta.val.as_tensor().sizes);
  }
  EXPECT_EQ(grads, 6);
}

TEST(FullySharded, EachModulesParametersAreGatheredAndReduceScatteredTogether) {
  // Note [FSDP groups]: 3 Linear layers, 3 gathers and 3 reduce-scatters; the backward
  // gathers net.2 and net.4 again (their weights give the input gradients).
  check_collectives(exporting::ShardGroups::Module, 3, 2);
}

TEST(FullySharded, PerParameterGroupsGiveEachParameterItsOwnCollectives) {
  // 6 gathers, 6 reduce-scatters, and net.2.weight and net.4.weight gathered again.
  check_collectives(exporting::ShardGroups::Parameter, 6, 2);
}

TEST(FullySharded, TheBackwardGathersAgainUnlessKeepGathered) {
  auto gathers_of = [](const exporting::JointWithDescriptors& j, const std::string& name) {
    return gathers_reading(param_named(*j.graph_module->graph, name)).size();
  };
  // net.2.weight is read by the backward (net.0's input gradient); net.0.weight is not (the
  // model's input needs no gradient).
  exporting::JointWithDescriptors resharded = fsdp_joint("mlp_small", world(2, true));
  EXPECT_EQ(gathers_of(resharded, "net.2.weight"), 2u);
  EXPECT_EQ(gathers_of(resharded, "net.0.weight"), 1u);
  exporting::JointWithDescriptors kept = fsdp_joint("mlp_small", world(2, false));
  EXPECT_EQ(gathers_of(kept, "net.2.weight"), 1u);
}

TEST(FullySharded, TheNextGatherStartsBeforeTheParameterBeforeItIsRead) {
  exporting::JointWithDescriptors j = fsdp_joint("mlp_small", world(2));
  const auto& nodes = j.graph_module->graph->nodes();
  // net.2's gather comes before the first addmm: it is in flight while layer 0 runs.
  const graph::Node* layer2_gather = gathers_reading(param_named(*j.graph_module->graph, "net.2.weight")).front();
  size_t first_addmm = nodes.size(), layer2 = nodes.size();
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (calls(*nodes[i], ops::OpId::addmm) && first_addmm == nodes.size()) first_addmm = i;
    if (nodes[i].get() == layer2_gather) layer2 = i;
  }
  EXPECT_LT(layer2, first_addmm);
}

// In a world of one the collectives are the identity, so the sharded step must train
// exactly as the plain one: padding, slicing, gathering and clipping across ranks
// change nothing.
TEST(FullySharded, AWorldOfOneTrainsAsThePlainStep) {
  auto train = [](std::optional<exporting::FullyShardedOptions> fsdp) {
    models::Instance inst = models::instantiate(models::find_model("mlp_small"));
    exporting::TrainStepOptions o;
    o.loss = exporting::LossKind::ModelOutput;
    o.rule = optim::UpdateRule::adam({1e-2, 0.9, 0.999, 1e-8, 0.01, true, false});
    o.clip_max_norm = 0.1;
    o.export_options.record_stack_traces = false;
    o.export_options.fully_sharded = fsdp;
    exporting::TrainStepGraph g = exporting::aot_export_train_step(*inst.module, inst.example.args, o);
    exporting::TrainState state = exporting::TrainState::for_module(*inst.module, g, 0);
    compile::CompiledTrainStep step = compile::aot_compile_train_step(g);
    for (int s = 0; s < 3; ++s) step(state, inst.example.args);
    return state;
  };
  const exporting::TrainState plain = train(std::nullopt), sharded = train(world(1));
  ASSERT_EQ(plain.keys, sharded.keys);
  for (size_t i = 0; i < plain.keys.size(); ++i) {
    const std::vector<float> a = plain.values[i].to_vector<float>(), b = sharded.values[i].to_vector<float>();
    ASSERT_EQ(a.size(), b.size()) << plain.keys[i].str();
    for (size_t k = 0; k < a.size(); ++k) ASSERT_FLOAT_EQ(a[k], b[k]) << plain.keys[i].str() << "[" << k << "]";
  }
}

TEST(FullySharded, BindingAShardedStepNeedsTheRank) {
  Step step(2);
  models::Instance& inst = step.inst;
  exporting::TrainStepOptions& o = step.options;
  const exporting::TrainStepGraph& g = step.graph;
  EXPECT_NE(
      error_of([&] { exporting::TrainState::for_module(*inst.module, g); }).find("for_module(module, step, rank)"),
      std::string::npos);
  exporting::TrainState r1 = exporting::TrainState::for_module(*inst.module, g, 1);
  const Tensor* w = r1.find(Descriptor::param("net.0.weight"));
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->sizes(), (Shape{64, 64}));
  // Rank 1 holds rows 64..127 of the module's weight.
  Tensor full = inst.module->named_parameters()[0].second;
  EXPECT_EQ(w->to_vector<float>(), contiguous(slice(full, 0, 64, 128)).to_vector<float>());
  o.export_options.data_parallel = exporting::DataParallelOptions{};
  EXPECT_NE(error_of([&] {
              exporting::aot_export_train_step(*inst.module, inst.example.args, o);
            }).find("choose data-parallel or fully-sharded, not both"),
            std::string::npos);
}

// The communication thread may write a collective's result until it is waited for:
// the memory plan keeps a reduce-scatter's input to its wait, and the result of a
// collective nobody waits for to the end of the program.
TEST(FullySharded, TheMemoryPlanKeepsWhatACollectiveStillUses) {
  Step step(1);
  const exporting::TrainStepGraph& g = step.graph;
  graph::Graph& graph = *g.graph_module->graph;
  graph::Node* x = graph.placeholders()[0];
  graph::Node* orphan = graph.call_function(ops::op_info(ops::OpId::c10d_all_reduce), {x, "sum", "0"}, {}, "orphan");
  orphan->meta.val = x->meta.val;
  const compile::ProgramStats stats = compile::aot_compile_train_step(g).stats();
  size_t end = 0;
  std::map<std::string, compile::ArenaBuffer> by_node;
  for (const auto& b : stats.arena_buffers) {
    end = std::max(end, b.last);
    by_node[b.node] = b;
  }
  ASSERT_TRUE(by_node.count("orphan"));
  EXPECT_EQ(by_node["orphan"].last, end);
  // Each reduce-scatter's input (a gradient) lives at least until its wait.
  int checked = 0;
  for (const auto& n : graph.nodes()) {
    if (!calls(*n, ops::OpId::c10d_reduce_scatter_tensor)) continue;
    const graph::Node* in = n->args()[0].node();
    while (!by_node.count(in->name()) && !in->input_nodes().empty()) in = in->input_nodes()[0];  // through views
    const graph::Node* wait = n->users().empty() ? nullptr : n->users()[0];
    if (wait == nullptr || !by_node.count(in->name()) || !by_node.count(wait->name())) continue;
    EXPECT_GE(by_node[in->name()].last, by_node[wait->name()].first) << in->name() << " dies before " << wait->name();
    ++checked;
  }
  EXPECT_GT(checked, 0);
}
