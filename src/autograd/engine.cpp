// The backward engine: runs ready nodes highest seq_nr first (PyTorch's order).
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "aotgrad/autograd.h"
#include "aotgrad/ops.h"
#include "autograd/node.h"
#include "ops/dispatch.h"
#include "support/error.h"

namespace aotgrad::autograd {

void install_autograd_handler();
extern thread_local const Node* t_current_backward_node;
extern thread_local bool t_in_backward;

namespace {

thread_local bool t_in_accumulation = false;

// Installs the dispatcher hook as soon as the autograd library is loaded.
const bool g_installed = [] {
  install_autograd_handler();
  return true;
}();

struct ByPriority {
  bool operator()(const Node* a, const Node* b) const { return a->seq_nr() < b->seq_nr(); }
};

Tensor zeros_for(const TensorMeta& m) {
  return zeros(m.sizes, m.dtype);
}

// Adds g into slot `i` of a node's input buffer.
void accumulate(TensorList& buffer, size_t i, const Tensor& g) {
  if (!buffer[i].defined()) {
    buffer[i] = g;
    return;
  }
  t_in_accumulation = true;
  try {
    buffer[i] = add(buffer[i], g);
  } catch (...) {
    t_in_accumulation = false;
    throw;
  }
  t_in_accumulation = false;
}

struct Target {
  Node* node;
  uint32_t slot;
};

// Runs the graph below `roots`. When `targets` is non-empty, gradients arriving
// at them are captured (not applied) and only nodes leading to a target run.
TensorList run_graph(const TensorList& roots, const TensorList& root_grads, const std::vector<Target>& targets);

// Marks the thread as running the backward for the duration of one engine run.
TensorList run(const TensorList& roots, const TensorList& root_grads, const std::vector<Target>& targets) {
  const bool outer = t_in_backward;
  t_in_backward = true;
  try {
    TensorList out = run_graph(roots, root_grads, targets);
    t_in_backward = outer;
    return out;
  } catch (...) {
    t_in_backward = outer;
    throw;
  }
}

// One run of the engine, stage by stage: the edges from the roots, dependency counts
// over what they reach, (with targets) the nodes that lead to a target, then the
// nodes in priority order.
class GraphTask {
 public:
  explicit GraphTask(const std::vector<Target>& targets) : targets_(targets), captured_(targets.size()) {}

  TensorList run(const TensorList& roots, const TensorList& root_grads) {
    root_edges(roots, root_grads);
    count_dependencies();
    mark_needed();
    seed(root_grads);
    while (!ready_.empty()) {
      Node* n = ready_.top();
      ready_.pop();
      step(n);
    }
    return std::move(captured_);
  }

 private:
  const std::vector<Target>& targets_;
  TensorList captured_;
  std::vector<Edge> root_edges_;
  std::unordered_map<Node*, int> deps_;  // how many edges point at each node
  std::unordered_map<Node*, std::vector<Node*>> parents_;
  std::unordered_set<Node*> seen_, needed_;
  std::unordered_map<Node*, TensorList> buffers_;
  std::priority_queue<Node*, std::vector<Node*>, ByPriority> ready_;
  std::unordered_set<Node*> queued_;

  void root_edges(const TensorList& roots, const TensorList& root_grads) {
    AG_CHECK(roots.size() == root_grads.size(), "backward: got {} roots but {} gradients", roots.size(),
             root_grads.size());
    for (size_t i = 0; i < roots.size(); ++i) {
      AG_CHECK(roots[i].defined() && roots[i].requires_grad(),
               "backward: element {} of tensors does not require grad and does not have a grad_fn", i);
      AG_CHECK(root_grads[i].sizes() == roots[i].sizes(),
               "backward: expected the gradient of output {} to have shape {}, but got {}", i,
               shape_str(roots[i].sizes()), root_grads[i].describe());
      root_edges_.push_back(gradient_edge(roots[i]));
    }
  }

  void count_dependencies() {
    std::vector<Node*> stack;
    for (const Edge& e : root_edges_)
      if (seen_.insert(e.fn.get()).second) stack.push_back(e.fn.get());
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      for (const Edge& e : n->next_edges()) {
        if (!e.valid()) continue;
        ++deps_[e.fn.get()];
        if (!targets_.empty()) parents_[e.fn.get()].push_back(n);
        if (seen_.insert(e.fn.get()).second) stack.push_back(e.fn.get());
      }
    }
  }

  // With targets, a node is needed if a target is reachable from it.
  void mark_needed() {
    std::vector<Node*> work;
    for (const Target& t : targets_)
      if (seen_.count(t.node) && needed_.insert(t.node).second) work.push_back(t.node);
    while (!work.empty()) {
      Node* n = work.back();
      work.pop_back();
      for (Node* p : parents_[n])
        if (needed_.insert(p).second) work.push_back(p);
    }
  }
  bool is_needed(Node* n) const { return targets_.empty() || needed_.count(n) > 0; }

  TensorList& buffer_of(Node* n) {
    auto it = buffers_.find(n);
    if (it == buffers_.end()) it = buffers_.emplace(n, TensorList(n->input_metas().size())).first;
    return it->second;
  }

  void seed(const TensorList& root_grads) {
    for (size_t i = 0; i < root_edges_.size(); ++i) {
      TensorList& b = buffer_of(root_edges_[i].fn.get());
      if (b.size() <= root_edges_[i].input_nr) b.resize(root_edges_[i].input_nr + 1);
      accumulate(b, root_edges_[i].input_nr, root_grads[i]);
    }
    for (const Edge& e : root_edges_)
      if (deps_[e.fn.get()] == 0 && queued_.insert(e.fn.get()).second) ready_.push(e.fn.get());
  }

  // Runs one ready node (unless nothing reached it, it leads to no target, or it is a
  // target leaf whose gradient is captured instead) and passes its outputs on.
  void step(Node* n) {
    TensorList grads = std::move(buffer_of(n));
    buffers_.erase(n);
    bool is_target = false;
    for (size_t t = 0; t < targets_.size(); ++t)
      if (targets_[t].node == n) {
        is_target = true;
        if (targets_[t].slot < grads.size()) captured_[t] = grads[targets_[t].slot];
      }
    bool any = false;
    for (const Tensor& g : grads) any = any || g.defined();
    TensorList outs;
    if (any && is_needed(n) && !(is_target && dynamic_cast<AccumulateGrad*>(n))) outs = apply(n, std::move(grads));
    for (size_t i = 0; i < n->next_edges().size(); ++i) {
      const Edge& e = n->next_edges()[i];
      if (!e.valid()) continue;
      Node* next = e.fn.get();
      if (i < outs.size() && outs[i].defined() && is_needed(next)) accumulate(buffer_of(next), e.input_nr, outs[i]);
      if (--deps_[next] == 0 && queued_.insert(next).second) ready_.push(next);
    }
  }

  static TensorList apply(Node* n, TensorList grads) {
    for (size_t i = 0; i < grads.size() && n->materialize_grads(); ++i)
      if (!grads[i].defined() && i < n->input_metas().size() && n->input_metas()[i].defined)
        grads[i] = zeros_for(n->input_metas()[i]);
    // Note [Backward inherits the forward's context]: whatever a node's backward
    // records (a tracer, say) can read the node, its seq_nr and creation context.
    t_current_backward_node = n;
    try {
      TensorList outs = n->apply(std::move(grads));
      t_current_backward_node = nullptr;
      return outs;
    } catch (...) {
      t_current_backward_node = nullptr;
      throw;
    }
  }
};

TensorList run_graph(const TensorList& roots, const TensorList& root_grads, const std::vector<Target>& targets) {
  GraphTask task(targets);
  return task.run(roots, root_grads);
}

TensorList default_grads(const TensorList& roots, const TensorList& grads) {
  if (!grads.empty()) return grads;
  TensorList out;
  for (const Tensor& r : roots) {
    AG_CHECK(r.defined() && r.numel() == 1, "backward: a gradient can be implied only for scalar outputs, but got {}",
             r.defined() ? r.describe() : "an undefined tensor");
    out.push_back(ones_like(r));
  }
  return out;
}

}  // namespace

NoGradGuard::NoGradGuard() : prev_(ops::grad_mode_enabled()) {
  ops::set_grad_mode(false);
}
NoGradGuard::~NoGradGuard() {
  ops::set_grad_mode(prev_);
}
EnableGradGuard::EnableGradGuard() : prev_(ops::grad_mode_enabled()) {
  ops::set_grad_mode(true);
}
EnableGradGuard::~EnableGradGuard() {
  ops::set_grad_mode(prev_);
}
bool is_grad_enabled() {
  return ops::grad_mode_enabled();
}
bool in_gradient_accumulation() {
  return t_in_accumulation;
}

void backward(const TensorList& roots, const TensorList& grads) {
  (void)g_installed;
  TensorList g = default_grads(roots, grads);
  NoGradGuard no_grad;
  run(roots, g, {});
}

TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                bool allow_unused) {
  (void)g_installed;
  TensorList g = default_grads(outputs, grad_outputs);
  std::vector<Target> targets;
  for (size_t i = 0; i < inputs.size(); ++i) {
    AG_CHECK(inputs[i].defined() && inputs[i].requires_grad(), "grad: input {} ({}) does not require grad", i,
             inputs[i].defined() ? inputs[i].describe() : "undefined");
    Edge e = gradient_edge(inputs[i]);
    targets.push_back({e.fn.get(), e.input_nr});
  }
  NoGradGuard no_grad;
  TensorList result = run(outputs, g, targets);
  for (size_t i = 0; i < result.size(); ++i)
    AG_CHECK(allow_unused || result[i].defined(),
             "grad: input {} was not used in the graph of the outputs (pass allow_unused=true)", i);
  return result;
}

}  // namespace aotgrad::autograd
