// The table of higher-order ops and the resolution of their nodes: see higher_order.h.
#include "graph/higher_order.h"

#include <algorithm>
#include <map>
#include <mutex>

#include "support/error.h"

namespace aotgrad::graph {

namespace {
struct Table {
  std::mutex mutex;
  std::map<std::string, HigherOrderResolver> ops;
};
Table& table() {
  static Table t;
  return t;
}

HigherOrderResolver find(const std::string& name) {
  Table& t = table();
  std::lock_guard<std::mutex> lock(t.mutex);
  auto it = t.ops.find(name);
  return it == t.ops.end() ? nullptr : it->second;
}
}  // namespace

void register_higher_order_op(const std::string& name, HigherOrderResolver resolve) {
  Table& t = table();
  std::lock_guard<std::mutex> lock(t.mutex);
  t.ops[name] = std::move(resolve);
}

std::vector<std::string> higher_order_op_names() {
  Table& t = table();
  std::lock_guard<std::mutex> lock(t.mutex);
  std::vector<std::string> names;
  for (const auto& [name, _] : t.ops) names.push_back(name);
  return names;
}

std::string HigherOrderArgs::where() const {
  return fmt::format("{} '{}'", node_.target().name, node_.name());
}

int HigherOrderArgs::operand(const Arg& a, const char* what) {
  if (a.is_none()) return -1;
  AG_CHECK(a.is_node(), "{}: argument {} must be a tensor or None", where(), what);
  operands_.push_back(a.node());
  return static_cast<int>(operands_.size()) - 1;
}

std::shared_ptr<GraphModule> HigherOrderArgs::subgraph(const Arg& a, const char* what) const {
  AG_CHECK(a.is_node() && a.node()->op() == NodeOp::GetAttr,
           "{}: the {} argument must be a get_attr node naming a subgraph", where(), what);
  std::shared_ptr<GraphModule> g = owner_.subgraph(a.node()->target().name);
  AG_CHECK(g != nullptr, "{}: the module has no subgraph '{}' (the {})", where(), a.node()->target().name, what);
  return g;
}

double HigherOrderArgs::number(const Arg& a, const char* what) const {
  AG_CHECK(a.is_double() || a.is_int(), "{}: the {} must be a number", where(), what);
  return a.is_double() ? a.to_double() : static_cast<double>(a.to_int());
}

HigherOrderCall::HigherOrderCall(const GraphModule& owner, const Node& n) : op_(n.target().name), node_(n.name()) {
  AG_CHECK(n.target().kind == Target::Kind::HigherOrder, "node '{}' is not a higher-order op call", n.name());
  HigherOrderResolver resolve = find(op_);
  AG_CHECK(resolve != nullptr, "node '{}' calls the unknown higher-order op '{}' (known: {})", n.name(), op_,
           fmt::join(higher_order_op_names(), ", "));
  HigherOrderArgs args(owner, n);
  impl_ = resolve(args);
  AG_INTERNAL_CHECK(impl_ != nullptr, "the resolver of '{}' returned nothing", op_);
  operands_ = args.operands();
}

std::vector<Tensor> HigherOrderCall::run(const std::vector<Tensor>& operands) const {
  AG_CHECK(operands.size() == operands_.size(), "{} '{}': {} operands given, {} expected", op_, node_, operands.size(),
           operands_.size());
  return impl_->run(operands);
}

std::vector<std::optional<TensorVal>> HigherOrderCall::result_meta(const std::vector<TensorVal>& operands) const {
  AG_CHECK(operands.size() == operands_.size(), "{} '{}': {} operands given, {} expected", op_, node_, operands.size(),
           operands_.size());
  return impl_->result_meta(operands);
}

}  // namespace aotgrad::graph
