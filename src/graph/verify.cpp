// The graph lint: structural invariants and descriptor consistency (STYLE.md rule 3).
#include <unordered_map>
#include <unordered_set>

#include "aotgrad/graph.h"
#include "graph/higher_order.h"
#include "ops/registry.h"
#include "support/error.h"

namespace aotgrad::graph {

namespace {
// A partitioned backward graph takes only saved values and tangents and returns only
// gradients: its tangents name the forward half's outputs and its gradients the
// forward half's inputs, so those references are not to its own descriptors.
bool is_backward_half(const std::vector<Node*>& ph, const Node& out) {
  for (Node* p : ph) {
    const Descriptor::Kind k = p->meta.desc->kind();
    if (k != Descriptor::Kind::TangentInput && k != Descriptor::Kind::SavedForBackwardsInput) return false;
  }
  for (const auto& d : out.meta.out_descs)
    if (d && d->kind() != Descriptor::Kind::GradOutput) return false;
  return !ph.empty();
}

void verify_descriptors(const Graph& g, const Node& out) {
  std::vector<Node*> ph = g.placeholders();
  size_t with_desc = 0;
  for (Node* p : ph) with_desc += p->meta.desc.has_value();
  if (with_desc == 0 && out.meta.out_descs.empty()) return;  // a graph without descriptors
  // A joint graph is functional: every mutation was turned into an output.
  // The one exception: an inference graph that keeps its input mutations writes them
  // back with copy_ into the placeholder.
  for (const auto& n : g.nodes()) {
    if (n->op() != NodeOp::CallFunction || n->target().kind != Target::Kind::Op) continue;
    if (n->target().op->kind != ops::OpKind::InPlace) continue;
    const bool write_back = n->target().op->schema.name == "copy_" && !n->args().empty() && n->args()[0].is_node() &&
                            n->args()[0].node()->op() == NodeOp::Placeholder;
    AG_CHECK(write_back, "verify: node '{}' calls the in-place op {} in a functional (joint) graph", n->name(),
             n->target().op->qualified_name());
  }
  AG_CHECK(with_desc == ph.size(), "verify: {} of {} placeholders have descriptors; all or none must", with_desc,
           ph.size());
  std::unordered_set<Descriptor> inputs;
  for (Node* p : ph) {
    const Descriptor& d = *p->meta.desc;
    AG_CHECK(d.is_input(), "verify: placeholder '{}' has the output descriptor {}", p->name(), d.str());
    AG_CHECK(inputs.insert(d).second, "verify: placeholders share the descriptor {}", d.str());
  }
  const size_t n_values = out.args()[0].list().size();
  const bool backward_half = is_backward_half(ph, out);
  AG_CHECK(out.meta.out_descs.size() == n_values, "verify: the output has {} values but {} descriptors", n_values,
           out.meta.out_descs.size());
  std::unordered_set<Descriptor> outputs;
  for (size_t i = 0; i < n_values; ++i) {
    const auto& d = out.meta.out_descs[i];
    const bool is_none = out.args()[0].list()[i].is_none();
    if (!d) {
      AG_CHECK(is_none, "verify: output {} has a value but no descriptor", i);
      continue;
    }
    AG_CHECK(d->is_output(), "verify: output {} has the input descriptor {}", i, d->str());
    AG_CHECK(outputs.insert(*d).second, "verify: two outputs share the descriptor {}", d->str());
    if (d->kind() == Descriptor::Kind::GradOutput || d->kind() == Descriptor::Kind::InputMutationOutput) {
      AG_CHECK(backward_half || inputs.count(d->inner()), "verify: output {} is {}, but no input is {}", i, d->str(),
               d->inner().str());
      AG_CHECK(d->inner().is_differentiable() || d->kind() != Descriptor::Kind::GradOutput,
               "verify: output {} is a gradient of {}, which is not differentiable", i, d->inner().str());
    }
  }
  for (Node* p : ph) {
    const Descriptor& d = *p->meta.desc;
    if (d.kind() != Descriptor::Kind::TangentInput) continue;
    AG_CHECK(backward_half || outputs.count(d.inner()), "verify: tangent '{}' is for {}, which is not an output",
             p->name(), d.inner().str());
    AG_CHECK(d.inner().is_differentiable(), "verify: tangent '{}' is for {}, which is not differentiable", p->name(),
             d.inner().str());
  }
}
}  // namespace

void verify(const GraphModule& gm) {
  const Graph& g = *gm.graph;
  std::unordered_map<const Node*, size_t> position;
  std::unordered_set<std::string> names;
  bool placeholders_done = false;
  const auto& nodes = g.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = *nodes[i];
    AG_CHECK(names.insert(n.name()).second, "verify: two nodes are named '{}'", n.name());
    if (n.op() == NodeOp::Placeholder)
      AG_CHECK(!placeholders_done, "verify: placeholder '{}' comes after other nodes", n.name());
    else
      placeholders_done = true;
    if (n.op() == NodeOp::Output)
      AG_CHECK(i + 1 == nodes.size(), "verify: the output node '{}' is not the last node", n.name());
    for (Node* in : n.input_nodes()) {
      AG_CHECK(in->graph() == &g && position.count(in), "verify: node '{}' uses '{}' before it is defined", n.name(),
               in->name());
      const auto& users = in->users();
      AG_CHECK(std::find(users.begin(), users.end(), &n) != users.end(),
               "verify: '{}' uses '{}' but is not among its users", n.name(), in->name());
    }
    switch (n.op()) {
      case NodeOp::CallFunction:
        if (n.target().kind == Target::Kind::Op) {
          AG_CHECK(n.target().op != nullptr, "verify: node '{}' has no op", n.name());
        } else if (n.target().kind == Target::Kind::GetItem) {
          AG_CHECK(n.args().size() == 2 && n.args()[0].is_node() && n.args()[1].is_int(),
                   "verify: getitem node '{}' must take (node, index)", n.name());
        } else if (n.target().kind == Target::Kind::HigherOrder) {
          HigherOrderCall resolved(gm, n);  // checks the op's argument form and its subgraphs
        }
        break;
      case NodeOp::GetAttr:
        AG_CHECK(gm.constant(n.target().name) != nullptr ||
                     std::any_of(gm.subgraphs.begin(), gm.subgraphs.end(),
                                 [&](const auto& s) { return s.first == n.target().name; }),
                 "verify: get_attr '{}' reads '{}', which the module does not have", n.name(), n.target().name);
        break;
      case NodeOp::Output:
        AG_CHECK(n.args().size() == 1 && n.args()[0].is_list(), "verify: the output node must return a list");
        break;
      case NodeOp::Placeholder:
        break;
    }
    position[&n] = i;
  }
  const Node* out = g.output_node();
  AG_CHECK(out != nullptr, "verify: the graph has no output node");
  verify_descriptors(g, *out);
}

}  // namespace aotgrad::graph
