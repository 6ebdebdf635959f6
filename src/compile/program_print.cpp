// Program::print and Program::verify: the compiled schedule as people read it, and its
// invariants (`aotgrad run --model M --print-program`, the pipeline's "lower", "fuse"
// and "plan" passes).
#include <fmt/format.h>

#include "compile/program.h"
#include "support/error.h"

namespace aotgrad::compile {

namespace {
const char* kind_name(ValueKind k) {
  switch (k) {
    case ValueKind::Input:
      return "input";
    case ValueKind::Constant:
      return "constant";
    case ValueKind::Arena:
      return "arena";
    case ValueKind::Fresh:
      return "fresh";
    case ValueKind::IntoInput:
      return "into-input";
    case ValueKind::View:
      return "view";
  }
  return "?";
}

std::string value_name(const std::vector<Value>& values, int v) {
  if (v < 0) return "None";
  return fmt::format("%{}", values[static_cast<size_t>(v)].name);
}
}  // namespace

std::string Program::print() const {
  std::string out = fmt::format(
      "program: {} values, {} instructions, arena {} bytes\n"
      "  (\"patches\": operands bound at run time; static operands are frozen into the instruction)\n",
      values_.size(), instructions_.size(), stats_.arena_bytes);
  for (size_t i = 0; i < instructions_.size(); ++i) {
    const Instruction& ins = instructions_[i];
    std::vector<std::string> results, reads, released;
    for (int r : ins.results) results.push_back(value_name(values_, r));
    for (const auto& p : ins.patches) reads.push_back(value_name(values_, p.value));
    for (int r : ins.release) released.push_back(value_name(values_, r));
    out += fmt::format("  {:>4}  {} = {}", i, fmt::join(results, ", "), ins.label.empty() ? ins.node : ins.label);
    if (ins.view_of >= 0) out += fmt::format(" (view of {})", value_name(values_, ins.view_of));
    if (!reads.empty()) out += fmt::format("  patches {}", fmt::join(reads, ", "));
    if (!released.empty()) out += fmt::format("  frees {}", fmt::join(released, ", "));
    out += "\n";
  }
  out += "values:\n";
  const char* arena = static_cast<const char*>(arena_.get());
  for (const Value& v : values_) {
    std::string where = kind_name(v.kind);
    if (v.kind == ValueKind::Arena && v.fixed.defined() && arena != nullptr)
      where += fmt::format(" @{}", static_cast<const char*>(v.fixed.raw_data()) - arena);
    if (v.kind == ValueKind::View || v.kind == ValueKind::IntoInput) where += " of " + value_name(values_, v.base);
    out += fmt::format("  %{:<24} {:<12} {}\n", v.name, v.layout.str(), where);
  }
  return out;
}

void Program::verify() const {
  const auto n = static_cast<int>(values_.size());
  auto in_range = [&](int v) { return v >= -1 && v < n; };
  for (int v : inputs_) AG_INTERNAL_CHECK(v >= 0 && v < n, "program: input value {} out of range", v);
  for (int v : outputs_) AG_INTERNAL_CHECK(in_range(v), "program: output value {} out of range", v);
  for (const Instruction& ins : instructions_) {
    AG_INTERNAL_CHECK(ins.kernel != nullptr || ins.view_of >= 0, "program: instruction '{}' runs nothing", ins.node);
    for (int r : ins.results) AG_INTERNAL_CHECK(in_range(r), "program: '{}' writes value {}", ins.node, r);
    for (const auto& p : ins.patches) {
      AG_INTERNAL_CHECK(p.value >= 0 && p.value < n, "program: '{}' reads value {}", ins.node, p.value);
      AG_INTERNAL_CHECK(p.arg >= 0 && p.arg < static_cast<int>(ins.args.size()),
                        "program: '{}' patches argument {} of {}", ins.node, p.arg, ins.args.size());
    }
  }
  const char* arena = static_cast<const char*>(arena_.get());
  if (arena == nullptr) return;  // not planned yet
  for (const Value& v : values_) {
    if (v.kind != ValueKind::Arena || !v.fixed.defined()) continue;
    const auto offset = static_cast<const char*>(v.fixed.raw_data()) - arena;
    AG_INTERNAL_CHECK(offset >= 0 && offset + v.bytes() <= stats_.arena_bytes,
                      "program: value %{} ({} bytes at {}) lies outside the {}-byte arena", v.name, v.bytes(), offset,
                      stats_.arena_bytes);
  }
}

}  // namespace aotgrad::compile
