#include "ops/registry.h"

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
#define AG_FAMILY(name)                 \
  register_##name##_shapes(r);          \
  register_##name##_kernels(r);         \
  register_##name##_derivatives(r);     \
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

const OpInfo& op_info(OpId id) { return all_ops()[static_cast<size_t>(id)]; }

const OpInfo* find_op(std::string_view name) {
  std::string n(name);
  if (n.rfind("aten::", 0) != 0 && n.rfind("prims::", 0) != 0) {
    // "aten.addmm.default" or "addmm"
    auto dot = n.find('.');
    std::string ns = "aten";
    if (dot != std::string::npos && (n.substr(0, dot) == "aten" || n.substr(0, dot) == "prims")) {
      ns = n.substr(0, dot);
      n = n.substr(dot + 1);
    }
    if (n.find('.') == std::string::npos) n += ".default";
    n = ns + "::" + n;
  } else if (n.find('.') == std::string::npos) {
    n += ".default";
  }
  for (const OpInfo& op : all_ops())
    if (op.qualified_name() == n) return &op;
  return nullptr;
}

OpInfo& Registry::operator[](OpId id) { return table_[static_cast<size_t>(id)]; }

}  // namespace aotgrad::ops
