// Runs a graph on real tensors, node by node, through ops::call — the same entry
// eager code uses, so results match eager execution op for op.
#include <unordered_map>

#include "aotgrad/graph.h"
#include "graph/higher_order.h"
#include "ops/dispatch.h"
#include "support/error.h"

namespace aotgrad::graph {

namespace {
using ValueOf = std::function<IValue(const Node*)>;

using Bindings = std::map<int64_t, int64_t>;

IValue resolve(const Arg& a, const ValueOf& value_of, const Bindings& bindings) {
  if (a.is_node()) return value_of(a.node());
  if (a.is_none()) return IValue();
  if (a.is_int()) return IValue(a.to_int());
  if (a.is_sym()) return IValue(a.sym().evaluate(bindings));
  if (a.is_double()) return IValue(a.to_double());
  if (a.is_bool()) return IValue(a.to_bool());
  if (a.is_string()) return IValue(a.str());
  if (a.is_dtype()) return IValue(a.dtype());
  // Lists: of nodes (tensors, None for an empty slot), of ints or of bools.
  const Arg::List& l = a.list();
  bool tensors = false, bools = !l.empty();
  for (const Arg& x : l) {
    tensors = tensors || x.is_node();
    bools = bools && x.is_bool();
  }
  if (tensors) {
    TensorList ts;
    for (const Arg& x : l) ts.push_back(x.is_node() ? value_of(x.node()).to_tensor() : Tensor());
    return IValue(ts);
  }
  if (bools) {
    BoolList bs;
    for (const Arg& x : l) bs.push_back(x.to_bool());
    return IValue(bs);
  }
  IntList is;
  for (const Arg& x : l) {
    AG_CHECK(x.is_int() || x.is_sym(), "interpret: a list argument mixes ints with other values");
    is.push_back(x.is_sym() ? x.sym().evaluate(bindings) : x.to_int());
  }
  return IValue(is);
}
}  // namespace

IValue call_node(const Node& n, const std::unordered_map<const Node*, IValue>& env, const Bindings& bindings);

// The values of a symbolic graph's symbols, read from the inputs' sizes (guards checked).
Bindings bind_inputs(const GraphModule& gm, const std::vector<IValue>& inputs) {
  if (gm.symbols.empty()) return {};
  std::vector<Shape> sizes;
  for (const IValue& v : inputs)
    sizes.push_back(v.is_tensor() && v.to_tensor().defined() ? v.to_tensor().sizes() : Shape{});
  return bind_symbols(gm, sizes);
}

std::vector<IValue> interpret(const GraphModule& gm, const std::vector<IValue>& inputs, const NodeWrapper& around,
                              const HigherOrderRunner& run_higher_order) {
  const Graph& g = *gm.graph;
  std::vector<Node*> ph = g.placeholders();
  AG_CHECK(inputs.size() == ph.size(), "interpret: the graph takes {} inputs, but got {}", ph.size(), inputs.size());
  std::unordered_map<const Node*, IValue> env;
  for (size_t i = 0; i < ph.size(); ++i) env[ph[i]] = inputs[i];
  const Bindings bindings = bind_inputs(gm, inputs);
  for (const auto& node : g.nodes()) {
    const Node& n = *node;
    try {
      switch (n.op()) {
        case NodeOp::Placeholder:
          break;
        case NodeOp::GetAttr: {
          if (gm.subgraph(n.target().name) != nullptr) break;  // read by the higher-order op that uses it
          const Tensor* c = gm.constant(n.target().name);
          AG_CHECK(c != nullptr, "interpret: no constant '{}'", n.target().name);
          env[&n] = IValue(*c);
          break;
        }
        case NodeOp::CallFunction: {
          if (n.target().kind == Target::Kind::HigherOrder) {
            HigherOrderCall call(gm, n);
            std::vector<Tensor> operands;
            for (const Node* x : call.operands()) operands.push_back(env.at(x).to_tensor());
            auto run = [&] {
              env[&n] = IValue(run_higher_order ? run_higher_order(gm, n, operands) : call.run(operands));
            };
            if (around)
              around(n, run);
            else
              run();
            break;
          }
          if (around) {
            around(n, [&] { env[&n] = call_node(n, env, bindings); });
            break;
          }
          env[&n] = call_node(n, env, bindings);
          break;
        }
        case NodeOp::Output: {
          std::vector<IValue> result;
          for (const Arg& a : n.args()[0].list())
            result.push_back(resolve(
                a, [&](const Node* x) { return env.at(x); }, bindings));
          return result;
        }
      }
    } catch (Error& e) {
      e.add_context("while interpreting node '" + n.name() + "'");
      throw;
    }
  }
  AG_FAIL("interpret: the graph has no output node");
}

Args bind_op_args(const Node& n, const ValueOf& value_of, const Bindings& bindings) {
  AG_CHECK(n.target().kind == Target::Kind::Op, "bind_op_args: node '{}' calls {}, not an op", n.name(),
           n.target().qualified());
  const ops::OpInfo& op = *n.target().op;
  Args args;
  for (const Arg& a : n.args()) args.push_back(resolve(a, value_of, bindings));
  // Keyword arguments go to their schema position (defaults fill the gaps).
  for (const auto& [name, a] : n.kwargs()) {
    int idx = op.schema.arg_index(name);
    AG_CHECK(idx >= 0, "{} has no argument '{}'", op.qualified_name(), name);
    while (args.size() < static_cast<size_t>(idx)) {
      const auto& p = op.schema.args[args.size()];
      AG_CHECK(p.default_value.has_value(), "{} misses argument '{}'", op.qualified_name(), p.name);
      args.push_back(*p.default_value);
    }
    if (args.size() == static_cast<size_t>(idx))
      args.push_back(resolve(a, value_of, bindings));
    else
      args[static_cast<size_t>(idx)] = resolve(a, value_of, bindings);
  }
  ops::normalize_args(op, args);
  return args;
}

// One call_function node on values from `env`.
IValue call_node(const Node& n, const std::unordered_map<const Node*, IValue>& env, const Bindings& bindings) {
  if (n.target().kind == Target::Kind::GetItem) {
    const IValue& tuple = env.at(n.args()[0].node());
    return IValue(tuple.to_tensor_list().at(static_cast<size_t>(n.args()[1].to_int())));
  }
  AG_CHECK(n.target().kind == Target::Kind::Op, "interpret: cannot run target {}", n.target().qualified());
  const ops::OpInfo& op = *n.target().op;
  Outputs outs = ops::call(op.id, bind_op_args(
                                      n, [&](const Node* x) { return env.at(x); }, bindings));
  if (op.schema.returns.size() == 1) return outs[0];
  return IValue(ops::flatten_outputs(outs));
}

}  // namespace aotgrad::graph
