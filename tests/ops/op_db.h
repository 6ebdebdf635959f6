// The op test database: one entry per op of the table, with sample inputs
// (broadcasting, size-1 dims, non-contiguous and empty tensors where legal), an
// optional naive reference, tolerances and error inputs. The generic suites in
// op_suites_test.cpp run every entry (STYLE.md "Tests").
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "aotgrad/ivalue.h"
#include "ops/registry.h"

namespace aotgrad::testing {

struct Sample {
  std::string label;
  Args args;
};

struct ErrorCase {
  Args args;
  std::vector<std::string> message_parts;  // each must appear in the error text
};

struct OpEntry {
  ops::OpId op;
  /// Samples in float64 (the suites convert to float32 where they test both).
  std::function<std::vector<Sample>()> samples;
  /// A naive reference computing the first output from the args, or null.
  std::function<Tensor(const Args&)> reference;
  std::vector<ErrorCase> errors;
  double grad_atol = 1e-6, grad_rtol = 1e-4;
  /// Arguments that never take a gradient (batch norm's running statistics).
  std::vector<size_t> no_grad_args;
  /// Ops whose gradient is not checked by finite differences, with the reason.
  std::string skip_gradcheck;
};

const std::vector<OpEntry>& op_database();
/// The prims' entries (op_db_prims.cpp).
void add_prim_entries(std::vector<OpEntry>& db);
const OpEntry* find_entry(ops::OpId op);
/// The entries the generic suites run: all, or those named in AOTGRAD_OPS
/// (comma-separated op names: "mm,addmm").
std::vector<std::reference_wrapper<const OpEntry>> selected_entries();

}  // namespace aotgrad::testing
