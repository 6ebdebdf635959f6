#include "aotgrad/pytree.h"

#include "support/error.h"

namespace aotgrad::pytree {

Value Value::list(List items) {
  Value v;
  v.kind_ = Kind::List;
  v.items_ = std::move(items);
  return v;
}
Value Value::tuple(List items) {
  Value v;
  v.kind_ = Kind::Tuple;
  v.items_ = std::move(items);
  return v;
}
Value Value::dict(Dict items) {
  Value v;
  v.kind_ = Kind::Dict;
  v.entries_ = std::move(items);
  return v;
}

const IValue& Value::leaf() const {
  AG_CHECK(is_leaf(), "pytree: expected a leaf, but got a container");
  return leaf_;
}
const List& Value::items() const {
  AG_CHECK(kind_ == Kind::List || kind_ == Kind::Tuple, "pytree: expected a list or tuple");
  return items_;
}
const Dict& Value::entries() const {
  AG_CHECK(kind_ == Kind::Dict, "pytree: expected a dict");
  return entries_;
}
const Tensor& Value::tensor() const {
  AG_CHECK(is_leaf() && leaf_.is_tensor(), "pytree: expected a tensor, but got {}",
           is_leaf() ? leaf_.type_name() : "a container");
  return leaf_.to_tensor();
}
const Value& Value::operator[](size_t i) const {
  const List& l = items();
  AG_CHECK(i < l.size(), "pytree: index {} out of range for a container of {} items", i, l.size());
  return l[i];
}
const Value& Value::at(const std::string& key) const {
  for (const auto& [k, v] : entries())
    if (k == key) return v;
  AG_FAIL("pytree: no key '{}' in dict", key);
}
size_t Value::size() const {
  if (is_leaf()) return 1;
  return kind_ == Kind::Dict ? entries_.size() : items_.size();
}

size_t TreeSpec::num_leaves() const {
  if (kind == Value::Kind::Leaf) return 1;
  size_t n = 0;
  for (const auto& c : children) n += c.num_leaves();
  return n;
}

std::string TreeSpec::str() const {
  if (kind == Value::Kind::Leaf) return "*";
  std::string kids;
  for (size_t i = 0; i < children.size(); ++i) kids += (i ? ", " : "") + children[i].str();
  switch (kind) {
    case Value::Kind::List:
      return fmt::format("TreeSpec(list, None, [{}])", kids);
    case Value::Kind::Tuple:
      return fmt::format("TreeSpec(tuple, None, [{}])", kids);
    default: {
      std::string ks;
      for (size_t i = 0; i < keys.size(); ++i) ks += fmt::format("{}'{}'", i ? ", " : "", keys[i]);
      return fmt::format("TreeSpec(dict, [{}], [{}])", ks, kids);
    }
  }
}

bool TreeSpec::operator==(const TreeSpec& o) const {
  return kind == o.kind && keys == o.keys && children == o.children;
}

namespace {
void flatten_into(const Value& v, std::vector<IValue>& leaves, TreeSpec& spec) {
  spec.kind = v.kind();
  if (v.is_leaf()) {
    leaves.push_back(v.leaf());
    return;
  }
  if (v.kind() == Value::Kind::Dict) {
    for (const auto& [k, child] : v.entries()) {
      spec.keys.push_back(k);
      spec.children.emplace_back();
      flatten_into(child, leaves, spec.children.back());
    }
    return;
  }
  for (const Value& child : v.items()) {
    spec.children.emplace_back();
    flatten_into(child, leaves, spec.children.back());
  }
}

Value build(const std::vector<IValue>& leaves, size_t& at, const TreeSpec& spec) {
  if (spec.kind == Value::Kind::Leaf) return Value(leaves[at++]);
  if (spec.kind == Value::Kind::Dict) {
    Dict d;
    for (size_t i = 0; i < spec.children.size(); ++i) d.emplace_back(spec.keys[i], build(leaves, at, spec.children[i]));
    return Value::dict(std::move(d));
  }
  List l;
  for (const auto& c : spec.children) l.push_back(build(leaves, at, c));
  return spec.kind == Value::Kind::List ? Value::list(std::move(l)) : Value::tuple(std::move(l));
}
}  // namespace

std::pair<std::vector<IValue>, TreeSpec> flatten(const Value& v) {
  std::vector<IValue> leaves;
  TreeSpec spec;
  flatten_into(v, leaves, spec);
  return {std::move(leaves), std::move(spec)};
}

Value unflatten(const std::vector<IValue>& leaves, const TreeSpec& spec) {
  AG_CHECK(leaves.size() == spec.num_leaves(), "unflatten: the spec {} has {} leaves, but got {}", spec.str(),
           spec.num_leaves(), leaves.size());
  size_t at = 0;
  return build(leaves, at, spec);
}

}  // namespace aotgrad::pytree
