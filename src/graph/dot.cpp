// Graphviz output: one box per node, forward and backward told apart by colour,
// placeholders and outputs labelled with their descriptors.
#include "aotgrad/graph.h"

namespace aotgrad::graph {

namespace {
std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}
}  // namespace

std::string to_dot(const GraphModule& gm) {
  std::string out =
      "digraph " + gm.name + " {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n";
  for (const auto& node : gm.graph->nodes()) {
    const Node& n = *node;
    std::string label = n.name();
    std::string style;
    switch (n.op()) {
      case NodeOp::Placeholder:
        if (n.meta.desc) label += "\\n" + escape(n.meta.desc->str());
        style = n.meta.desc && n.meta.desc->kind() == Descriptor::Kind::TangentInput
                    ? "shape=ellipse, style=filled, fillcolor=\"#f4cccc\""
                    : "shape=ellipse, style=filled, fillcolor=\"#d9ead3\"";
        break;
      case NodeOp::GetAttr:
        style = "shape=ellipse, style=filled, fillcolor=\"#eeeeee\"";
        break;
      case NodeOp::CallFunction:
        label += "\\n" + escape(n.target().qualified());
        style = n.meta.is_backward ? "style=filled, fillcolor=\"#fce5cd\"" : "style=filled, fillcolor=\"#cfe2f3\"";
        break;
      case NodeOp::Output:
        style = "shape=doubleoctagon";
        break;
    }
    if (n.meta.val.kind == FakeVal::Kind::Tensor) label += "\\n" + n.meta.val.as_tensor().str();
    out += "  \"" + n.name() + "\" [label=\"" + label + "\", " + style + "];\n";
    if (n.op() == NodeOp::Output) {
      const Arg::List& values = n.args()[0].list();
      for (size_t i = 0; i < values.size(); ++i) {
        if (!values[i].is_node()) continue;
        std::string desc = i < n.meta.out_descs.size() && n.meta.out_descs[i] ? n.meta.out_descs[i]->str() : "";
        out += "  \"" + values[i].node()->name() + "\" -> \"" + n.name() + "\" [label=\"" + escape(desc) +
               "\", fontsize=8];\n";
      }
      continue;
    }
    for (Node* in : n.input_nodes()) out += "  \"" + in->name() + "\" -> \"" + n.name() + "\";\n";
  }
  out +=
      "  subgraph cluster_legend { label=\"legend\"; fontsize=9; "
      "\"forward\" [style=filled, fillcolor=\"#cfe2f3\"]; \"backward\" [style=filled, fillcolor=\"#fce5cd\"]; }\n";
  return out + "}\n";
}

}  // namespace aotgrad::graph
