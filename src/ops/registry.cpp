#include "ops/registry.h"

#include <deque>
#include <mutex>

#include "ops/families.h"
#include "support/error.h"

namespace aotgrad::ops {

namespace {
struct RawRow {
  OpId id;
  OpKind kind;
  uint32_t tags;
  const char* schema;
};
constexpr RawRow kRows[] = {
#define AG_OP(id, kind, tags, schema) {OpId::id, OpKind::kind, OpTag::tags, schema},
#include "ops/op_table.def"
#undef AG_OP
};

// An in-place op's functional form is the op named without the trailing underscore,
// same overload: add_.Tensor -> add.Tensor, copy_ -> copy. Found by name, so the fact
// is written once (in the schemas); every InPlace row must have one.
void link_functional_forms(std::vector<OpInfo>& table) {
  for (OpInfo& op : table) {
    if (op.kind != OpKind::InPlace) continue;
    const std::string& name = op.schema.name;
    AG_INTERNAL_CHECK(!name.empty() && name.back() == '_', "in-place op {} is not named with a trailing '_'",
                      op.qualified_name());
    const std::string functional = name.substr(0, name.size() - 1);
    for (const OpInfo& f : table)
      if (f.schema.name == functional && f.schema.overload == op.schema.overload && f.kind != OpKind::InPlace)
        op.functional = f.id;
    AG_INTERNAL_CHECK(op.functional.has_value(), "in-place op {} has no functional form {} in op_table.def",
                      op.qualified_name(), functional);
  }
}

std::vector<OpInfo> build_table() {
  std::vector<OpInfo> table;
  table.reserve(kNumOps);
  for (const RawRow& row : kRows) {
    OpInfo info;
    info.id = row.id;
    info.kind = row.kind;
    info.tags = row.tags;
    info.schema = parse_schema(row.schema);
    table.push_back(std::move(info));
  }
  link_functional_forms(table);
  Registry r(table);
#define AG_FAMILY(name)         \
  register_##name##_shapes(r);  \
  register_##name##_kernels(r); \
  register_##name##_derivatives(r);
#define AG_COMPOSITES(name) register_##name##_composites(r);
#define AG_LOWERINGS(name) register_##name##_lowerings(r);
#define AG_SYM_SHAPES(name) register_##name##_sym_shapes(r);
#include "ops/families.def"
#undef AG_FAMILY
  return table;
}
}  // namespace

const std::vector<OpInfo>& all_ops() {
  static const std::vector<OpInfo> table = build_table();
  return table;
}

namespace {
// Custom ops live in a deque: their OpInfos never move once registered.
struct RuntimeOps {
  std::mutex mu;
  std::deque<OpInfo> ops;
};
RuntimeOps& runtime_ops() {
  static RuntimeOps* r = new RuntimeOps();  // outlives static destructors that may dispatch
  return *r;
}
}  // namespace

const OpInfo& op_info(OpId id) {
  const size_t i = static_cast<size_t>(id);
  if (i < kNumOps) return all_ops()[i];
  RuntimeOps& r = runtime_ops();
  std::lock_guard<std::mutex> lock(r.mu);
  AG_INTERNAL_CHECK(i - kNumOps < r.ops.size(), "op id {} is not registered", i);
  return r.ops[i - kNumOps];
}

const OpInfo& register_op(OpInfo info) {
  const std::string name = info.qualified_name();
  if (const OpInfo* known = find_op(name); known != nullptr && known->schema_only) {
    AG_CHECK(known->schema.text == info.schema.text,
             "register_op: {} was declared by a graph file as '{}', but is registered as '{}'", name,
             known->schema.text, info.schema.text);
    RuntimeOps& r = runtime_ops();
    std::lock_guard<std::mutex> lock(r.mu);
    OpInfo& slot = r.ops[static_cast<size_t>(known->id) - kNumOps];
    info.id = slot.id;
    slot = std::move(info);
    return slot;
  }
  AG_CHECK(find_op(name) == nullptr, "register_op: an op named {} is already registered", name);
  RuntimeOps& r = runtime_ops();
  std::lock_guard<std::mutex> lock(r.mu);
  info.id = static_cast<OpId>(kNumOps + r.ops.size());
  r.ops.push_back(std::move(info));
  return r.ops.back();
}

bool is_runtime_op(const OpInfo& op) {
  return static_cast<size_t>(op.id) >= kNumOps;
}

const OpInfo& declare_op_schema(const Schema& schema) {
  const std::string name = schema.qualified_name();
  if (const OpInfo* known = find_op(name)) {
    AG_CHECK(is_runtime_op(*known), "the graph file declares {}, but that is a built-in op", name);
    AG_CHECK(known->schema.text == schema.text,
             "the graph file declares {} as '{}', but this process registered it as '{}'", name, schema.text,
             known->schema.text);
    return *known;
  }
  OpInfo info;
  info.schema = schema;
  info.kind = OpKind::Compute;
  info.schema_only = true;
  info.not_differentiable = true;
  const std::string why = fmt::format(
      "{} is known here only by the schema its graph file carries: register its implementation "
      "(register_custom_op) before running the graph",
      name);
  info.shape = [why](const Args&) -> Outputs { AG_FAIL("{}", why); };
  info.kernel = [why](const Args&, Outputs&) { AG_FAIL("{}", why); };
  return register_op(std::move(info));
}

std::vector<const OpInfo*> registered_ops() {
  RuntimeOps& r = runtime_ops();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<const OpInfo*> out;
  for (const OpInfo& op : r.ops) out.push_back(&op);
  return out;
}

const OpInfo* find_op(std::string_view name) {
  std::string n(name);
  // Accepted spellings: "ns::name[.overload]", "ns.name.overload" (FX's) and, for
  // aten, "name[.overload]".
  const size_t colons = n.find("::");
  if (colons != std::string::npos) {
    if (n.find('.', colons) == std::string::npos) n += ".default";
  } else {
    const size_t dot = n.find('.');
    const std::string first = n.substr(0, dot);
    const size_t second = dot == std::string::npos ? std::string::npos : n.find('.', dot + 1);
    if (second != std::string::npos) {
      n = first + "::" + n.substr(dot + 1);  // ns.name.overload
    } else if (first == "aten" || first == "prims") {
      n = first + "::" + n.substr(dot + 1) + ".default";  // ns.name
    } else {
      n = "aten::" + n + (dot == std::string::npos ? ".default" : "");
    }
  }
  for (const OpInfo& op : all_ops())
    if (op.qualified_name() == n) return &op;
  for (const OpInfo* op : registered_ops())
    if (op->qualified_name() == n) return op;
  return nullptr;
}

OpInfo& Registry::operator[](OpId id) {
  return table_[static_cast<size_t>(id)];
}

}  // namespace aotgrad::ops
