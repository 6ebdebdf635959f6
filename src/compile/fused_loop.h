// The loop a fused group of float32 elementwise ops runs as (fusion.cpp decides the
// groups): a small program of steps over blocks of the output, evaluated for one
// tensor or, as a multi-tensor loop, for many tensors of different sizes at once.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compile/program.h"
#include "ops/elementwise.h"

namespace aotgrad::compile {

/// The elementwise ops a loop can evaluate: those that declare a formula
/// (Note [One formula per elementwise op], ops/elementwise.h).
using ops::Formula;
using ops::FormulaParams;

/// An instruction's operands and params as a step sees them, if its op declares the
/// formula it computes and this call is that formula.
struct Decoded {
  Formula formula;
  std::vector<IValue> operands;  // tensors or numbers, in order
  FormulaParams params;
};
bool decode(const Instruction& ins, Decoded& d);

/// An operand of a step: an input read element by element, an input's single
/// element (broadcast), an immediate, or an earlier step's block; optionally
/// multiplied by a scalar (an immediate or a scalar input) as it is read, with the
/// product rounded to float as the multiply it replaces would round it.
struct Operand {
  enum class Kind { Input, ScalarInput, Immediate, Step } kind = Kind::Immediate;
  int index = 0;
  float value = 0;
  enum class Scale { None, Immediate, ScalarInput } scale = Scale::None;
  int scale_index = 0;  // ScalarInput: which input
  float scale_value = 1;
};

struct Step {
  Formula formula;
  Operand a, b;
  FormulaParams params;
  std::string name;
};

/// An operand as a member's blocks read it: a pointer read element by element (times
/// `s` when scaled), or one value (an input's single element or an immediate, any
/// scale already multiplied in). A step's block as an operand is a pointer into the
/// loop's registers, scaled or not.
struct BlockOperand {
  const float* p = nullptr;
  float v = 0;
  bool scaled = false;
  float s = 1;
  int64_t numel = 0;  // an argument's element count (run() fills it)
  bool scalar() const { return p == nullptr; }
};

/// A loop of one precompiled shape (Note [Straight-line loops], straight_line.cpp):
/// elements [start, start + n) of one member, from its resolved operands (two per
/// step, at element 0) into its stores.
using StraightLineKernel = void (*)(float* const* stores, const BlockOperand* operands, const Step* steps,
                                    int64_t start, int64_t n);

/// Note [Multi-tensor loops]: one FusedLoop serves `members` tensors that run the same
/// steps (the optimizer's update of every parameter, say): the arguments are each
/// member's `num_inputs` inputs in turn, the outputs each member's stores in turn. The
/// work is split into blocks across all members, so one parallel loop covers every
/// parameter however small each one is. Every step of a block computes into registers
/// and the stores are written at the end of the block, after every read of it: a
/// store may therefore share storage with an input of its own member (the planner
/// puts a parameter's new value into the parameter).
struct FusedLoop {
  std::vector<Step> steps;
  std::vector<int> stores;  // per output of a member: the step whose block it is
  int num_inputs = 0;
  /// Folds each multiply by a scalar whose block only one arithmetic step reads into
  /// that step's operand (Note [Fewer passes]); returns how many steps went.
  int fold_scalar_multiplies();
  /// What two loops must share to become one multi-tensor loop.
  std::string signature() const;
  /// The compiled kernel of this loop's shape when the build has one (set once the
  /// steps are final; run() then evaluates every step of an element in registers).
  StraightLineKernel straight_line = nullptr;
  void run(const Args& args, Outputs& outs) const;
  /// The same on data addresses (Note [Operands by address]): `numels` holds each
  /// argument's element count, then each output's.
  void run_at(const void* const* args, void* const* outs, const std::vector<int64_t>& numels) const;
};

/// Each argument's element count, then each output's: what run_at takes, from an
/// instruction's argument and output layouts.
std::vector<int64_t> loop_numels(const Args& args, const Outputs& outs);

}  // namespace aotgrad::compile
