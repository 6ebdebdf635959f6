// Symbolic shape rules: the sizes of an op's results as expressions of a trace's
// symbols (docs/SYMBOLIC_SHAPES.md).
//
// Note [Symbolic shape rules]
// Every op has a shape rule on integers (shape/): it checks the arguments and gives
// the results' metadata. While a symbolic trace runs, an op whose inputs carry size
// expressions also runs its symbolic rule (sym_shape/), which gives each result's
// sizes as expressions. The integer rule has run first on the example's values
// (the hints), so a symbolic rule need not check again what it checked; where the
// integer rule compared two sizes, the symbolic rule asks the ShapeEnv to make the
// same comparison hold for every size the graph will serve: equal expressions need
// nothing, two symbols become one (s1 is s0 from then on), anything else becomes a
// guard the graph records and checks on every call. A symbol equated to a constant
// is specialised: it is that constant from then on, and the export reports which op
// fixed it. The tracer checks each symbolic result against the integer rule's at the
// hints, so a symbolic rule that disagrees with its integer rule is caught where it
// is used.
//
// An op without a symbolic rule is still traced soundly: every symbol its inputs
// mention is specialised, with the op named as the reason.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "aotgrad/ivalue.h"
#include "aotgrad/sym.h"

namespace aotgrad::ops {

struct OpInfo;

/// The symbols of one trace: their values in the example, what the shape rules found
/// equal, and the guards they made.
class ShapeEnv {
 public:
  /// A new symbol whose value in the example is `hint`.
  SymExpr new_symbol(int64_t hint);
  int64_t num_symbols() const { return static_cast<int64_t>(hints_.size()); }
  /// Every symbol's value in the example.
  const std::map<int64_t, int64_t>& hints() const { return hints_; }
  int64_t hint(const SymExpr& e) const { return e.evaluate(hints_); }
  /// `e` with the symbols found equal to others (or to constants) replaced.
  SymExpr canonical(const SymExpr& e) const;

  /// Makes a == b hold for every size the graph serves (see the Note).
  void expect_eq(const SymExpr& a, const SymExpr& b, const std::string& reason);
  /// Makes `lhs rel rhs` hold: nothing when it plainly always does, a guard otherwise.
  void expect(const SymExpr& lhs, SymGuard::Rel rel, const SymExpr& rhs, const std::string& reason);
  /// Fixes every symbol in `e` at its value in the example.
  void specialize(const SymExpr& e, const std::string& reason);

  /// A symbol fixed at a constant, and what fixed it.
  struct Pin {
    int64_t symbol = 0;
    int64_t value = 0;
    std::string reason;
    std::string node;  // the graph node whose op fixed it
  };
  const std::vector<Pin>& pins() const { return pins_; }
  const std::vector<SymGuard>& guards() const { return guards_; }
  /// s_k -> what it became (another symbol, or a constant).
  const std::map<int64_t, SymExpr>& replacements() const { return replacements_; }

  /// What guards made now are attributed to ("aten.addmm.default at node 'addmm_1'");
  /// the tracer sets it around each op.
  std::string where;
  /// The node being recorded, named by the pins made now.
  std::string node;

 private:
  void replace(int64_t symbol, const SymExpr& value);
  std::map<int64_t, int64_t> hints_;
  std::map<int64_t, SymExpr> replacements_;
  std::vector<SymGuard> guards_;
  std::vector<Pin> pins_;
};

/// What a symbolic rule sees: the op's arguments (tensors with their expressions,
/// symbolic ints), the integer rule's results, and the ShapeEnv.
class SymRuleCall {
 public:
  SymRuleCall(const OpInfo& op, const Args& args, const Outputs& results, ShapeEnv& env)
      : op(op), args(args), results(results), env(env) {}
  /// A tensor argument's sizes (constants for a static tensor), canonical.
  std::vector<SymExpr> sizes(size_t arg) const;
  /// An int-list argument's items (constants unless symbolic), canonical.
  std::vector<SymExpr> ints(size_t arg) const;
  /// An int argument (a constant unless symbolic), canonical.
  SymExpr int_arg(size_t arg) const;
  /// The integer rule's rank of result `i` (flattened).
  int64_t result_rank(size_t i) const;
  /// a == b, attributed to this op: `what` says which sizes ("mat1's dim 1 and mat2's dim 0").
  void expect_eq(const SymExpr& a, const SymExpr& b, const std::string& what) const;
  /// Broadcasts two shapes (NumPy's rule) as the integer rule did.
  std::vector<SymExpr> broadcast(const std::vector<SymExpr>& a, const std::vector<SymExpr>& b) const;

  const OpInfo& op;
  const Args& args;
  const Outputs& results;
  ShapeEnv& env;
};

/// The sizes of each result tensor, in flatten_outputs order (empty for None).
using SymShapes = std::vector<std::vector<SymExpr>>;
using SymShapeFn = std::function<SymShapes(const SymRuleCall& call)>;

/// The sizes of every tensor in `outs` (flatten_outputs order) as constants: what an
/// op gives when its inputs are static or it was specialised.
SymShapes constant_sizes(const Outputs& outs);

}  // namespace aotgrad::ops
