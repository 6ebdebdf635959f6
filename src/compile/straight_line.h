// Fused loops whose shape the build knows: every step of an element evaluated in
// registers (Note [Straight-line loops], straight_line.cpp).
#pragma once

#include <string>
#include <vector>

#include "compile/fused_loop.h"

namespace aotgrad::compile {

/// A loop's shape: each step's formula and how it reads its two operands (`v` one
/// value, `p` a pointer, `p*` a scaled pointer, `rN` / `rN*` step N's value, scaled),
/// then `->` and the steps it stores: "Add(p*,p*) Mul(p,p) Add(p*,r1*) -> r0 r2".
/// Loops that differ only in their numbers (immediates, scales, params) share it.
std::string loop_shape(const FusedLoop& loop);

/// The build's kernel for `loop`'s shape, or nullptr (the loop interprets its steps).
StraightLineKernel find_straight_line(const FusedLoop& loop);

/// Every shape the build has a kernel for.
std::vector<std::string> straight_line_shapes();

}  // namespace aotgrad::compile
