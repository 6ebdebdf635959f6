#include "aotgrad/graph.h"
#include "ops/registry.h"

namespace aotgrad::graph {

int eliminate_dead_code(GraphModule& gm) {
  int removed = 0;
  // One sweep from the end: a node's users come after it, so by the time the sweep
  // reaches a node, every dead user of it is gone. Erasing nodes[i] leaves the indices
  // below i as they were.
  const auto& nodes = gm.graph->nodes();
  for (size_t i = nodes.size(); i-- > 0;) {
    Node* n = nodes[i].get();
    if (n->op() != NodeOp::CallFunction || !n->users().empty()) continue;
    if (n->target().kind == Target::Kind::Op &&
        (n->target().op->kind == ops::OpKind::InPlace || n->target().op->has(ops::OpTag::Random) ||
         n->target().op->has(ops::OpTag::Collective)))
      continue;  // has effects beyond its result
    gm.graph->erase(n);
    ++removed;
  }
  return removed;
}

}  // namespace aotgrad::graph
