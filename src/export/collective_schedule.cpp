#include "export/collective_schedule.h"

#include <algorithm>
#include <unordered_set>
#include <variant>

#include "ops/registry.h"
#include "support/error.h"

namespace aotgrad::exporting::detail {

namespace {
using graph::Node;

std::ptrdiff_t index_of(const std::vector<Node*>& order, const Node* n) {
  return std::find(order.begin(), order.end(), n) - order.begin();
}

// Where nodes reading only `group` and outside nodes placed in `order` may go: after
// the last outside node they read, before the first outside node that reads them
// (the output node at the latest).
std::ptrdiff_t wait_position(const std::vector<Node*>& order, const std::vector<Node*>& nodes,
                             const std::unordered_set<const Node*>& group) {
  std::ptrdiff_t before = static_cast<std::ptrdiff_t>(order.size()) - 1, after = 0;
  for (const Node* n : nodes) {
    for (const Node* in : n->input_nodes())
      if (!group.count(in)) after = std::max(after, index_of(order, in) + 1);
    for (const Node* user : n->users())
      if (!group.count(user)) before = std::min(before, index_of(order, user));
  }
  return std::max(before, after);
}

std::unordered_set<const Node*> members(const CollectiveGroup& g) {
  std::unordered_set<const Node*> s(g.issue.begin(), g.issue.end());
  s.insert(g.wait.begin(), g.wait.end());
  return s;
}
}  // namespace

namespace {
void place_issues_after_inputs(std::vector<Node*>& order, const std::vector<CollectiveGroup>& groups) {
  for (const CollectiveGroup& g : groups) {
    const std::unordered_set<const Node*> mine(g.issue.begin(), g.issue.end());
    std::ptrdiff_t after = 0;
    for (const Node* n : g.issue)
      for (const Node* in : n->input_nodes())
        if (!mine.count(in)) after = std::max(after, index_of(order, in) + 1);
    order.insert(order.begin() + after, g.issue.begin(), g.issue.end());
  }
}
}  // namespace

const std::string* collective_phase(const Node& n, const char* index_key, const char* phase_key, int64_t& index) {
  const std::string* what = nullptr;
  index = -1;
  for (const auto& [k, v] : n.meta.custom) {
    if (k == index_key && std::holds_alternative<int64_t>(v)) index = std::get<int64_t>(v);
    if (k == phase_key && std::holds_alternative<std::string>(v)) what = &std::get<std::string>(v);
  }
  return index >= 0 ? what : nullptr;
}

bool is_view_node(const Node& n) {
  return n.op() == graph::NodeOp::CallFunction && n.target().kind == graph::Target::Kind::Op &&
         n.target().op->kind == ops::OpKind::View;
}

void place_issue_after_inputs_and_wait_before_readers(std::vector<Node*>& order,
                                                      const std::vector<CollectiveGroup>& groups) {
  place_issues_after_inputs(order, groups);
  for (const CollectiveGroup& g : groups)
    if (!g.wait.empty())
      order.insert(order.begin() + wait_position(order, g.wait, members(g)), g.wait.begin(), g.wait.end());
}

void place_issue_after_inputs_and_wait_before_next_issue(std::vector<Node*>& order,
                                                         const std::vector<CollectiveGroup>& groups) {
  place_issues_after_inputs(order, groups);
  std::vector<const CollectiveGroup*> by_issue;
  for (const CollectiveGroup& g : groups) by_issue.push_back(&g);
  std::sort(by_issue.begin(), by_issue.end(), [&](const CollectiveGroup* a, const CollectiveGroup* b) {
    return index_of(order, a->issue.back()) < index_of(order, b->issue.back());
  });
  for (size_t i = 0; i < by_issue.size(); ++i) {
    const CollectiveGroup& g = *by_issue[i];
    if (g.wait.empty()) continue;
    std::ptrdiff_t at = wait_position(order, g.wait, members(g));
    if (i + 1 < by_issue.size())
      at = std::min(at, std::max(index_of(order, by_issue[i + 1]->issue.front()), index_of(order, g.issue.back()) + 1));
    order.insert(order.begin() + at, g.wait.begin(), g.wait.end());
  }
}

void place_prefetched(std::vector<Node*>& order, const std::vector<CollectiveGroup>& groups,
                      const Node* first_issue_before) {
  if (groups.empty()) return;
  for (const CollectiveGroup& g : groups) {
    AG_INTERNAL_CHECK(!g.wait.empty(), "a prefetched collective has no wait");
    order.insert(order.begin() + wait_position(order, g.wait, members(g)), g.wait.begin(), g.wait.end());
  }
  std::vector<const CollectiveGroup*> by_use;
  for (const CollectiveGroup& g : groups) by_use.push_back(&g);
  std::sort(by_use.begin(), by_use.end(), [&](const CollectiveGroup* a, const CollectiveGroup* b) {
    return index_of(order, a->wait.front()) < index_of(order, b->wait.front());
  });
  std::ptrdiff_t first = 0;
  while (first < static_cast<std::ptrdiff_t>(order.size()) &&
         order[static_cast<size_t>(first)]->op() == graph::NodeOp::Placeholder)
    ++first;
  if (first_issue_before != nullptr) first = std::max(first, index_of(order, first_issue_before));
  for (size_t i = 0; i < by_use.size(); ++i) {
    const std::ptrdiff_t at = i == 0 ? first : index_of(order, by_use[i - 1]->wait.front());
    const std::unordered_set<const Node*> issue(by_use[i]->issue.begin(), by_use[i]->issue.end());
    for (const Node* n : by_use[i]->issue)
      for (const Node* in : n->input_nodes())
        AG_INTERNAL_CHECK(in->op() == graph::NodeOp::Placeholder || issue.count(in),
                          "a prefetched collective reads '{}'", in->name());
    order.insert(order.begin() + at, by_use[i]->issue.begin(), by_use[i]->issue.end());
  }
}

}  // namespace aotgrad::exporting::detail
