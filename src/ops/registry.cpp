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
  const char* schema;
};
constexpr RawRow kRows[] = {
#define AG_OP(id, kind, schema) {OpId::id, OpKind::kind, schema},
#include "ops/op_table.def"
#undef AG_OP
};

std::vector<OpInfo> build_table() {
  std::vector<OpInfo> table;
  table.reserve(kNumOps);
  for (const RawRow& row : kRows) {
    OpInfo info;
    info.id = row.id;
    info.kind = row.kind;
    info.schema = parse_schema(row.schema);
    table.push_back(std::move(info));
  }
  Registry r(table);
#define AG_FAMILY(name)             \
  register_##name##_shapes(r);      \
  register_##name##_kernels(r);     \
  register_##name##_derivatives(r); \
  register_##name##_decompositions(r);
  AG_FAMILY(pointwise)
  AG_FAMILY(reduction)
  AG_FAMILY(view)
  AG_FAMILY(factory)
  AG_FAMILY(linalg)
  AG_FAMILY(conv)
  AG_FAMILY(norm)
  AG_FAMILY(pool)
  AG_FAMILY(loss)
  AG_FAMILY(index)
  AG_FAMILY(prims)
#undef AG_FAMILY
  register_pointwise_lowerings(r);
  register_reduction_lowerings(r);
  register_view_lowerings(r);
  register_factory_lowerings(r);
  register_norm_lowerings(r);
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
  AG_CHECK(find_op(name) == nullptr, "register_op: an op named {} is already registered", name);
  RuntimeOps& r = runtime_ops();
  std::lock_guard<std::mutex> lock(r.mu);
  info.id = static_cast<OpId>(kNumOps + r.ops.size());
  r.ops.push_back(std::move(info));
  return r.ops.back();
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
