#include <cctype>
#include <iterator>

#include "aotgrad/descriptors.h"
#include "support/error.h"

namespace aotgrad {

namespace {
using Kind = Descriptor::Kind;

// What a kind holds: an index, a string, a wrapped descriptor, or both of the last
// two (the wrapped one printed first).
enum class Field { Idx, Target, Inner, InnerAndTarget };

struct KindInfo {
  Kind kind;
  const char* name;
  Field field;
  const char* field_name;
  const char* second_field = nullptr;  // InnerAndTarget: the string's field
};

constexpr KindInfo kKinds[] = {
    {Kind::PlainInput, "PlainAOTInput", Field::Idx, "idx"},
    {Kind::ParamInput, "ParamAOTInput", Field::Target, "target"},
    {Kind::BufferInput, "BufferAOTInput", Field::Target, "target"},
    {Kind::TangentInput, "TangentAOTInput", Field::Inner, "output"},
    {Kind::ViewBaseInput, "ViewBaseAOTInput", Field::Inner, "base_of"},
    {Kind::SyntheticBaseInput, "SyntheticBaseAOTInput", Field::Inner, "base_of"},
    {Kind::ForwardTokenInput, "ForwardTokenAOTInput", Field::Idx, "idx"},
    {Kind::BackwardTokenInput, "BackwardTokenAOTInput", Field::Idx, "idx"},
    {Kind::DummyInput, "DummyAOTInput", Field::Idx, "idx"},
    {Kind::OptimizerStateInput, "OptimizerStateAOTInput", Field::InnerAndTarget, "param", "state"},
    {Kind::HyperparamInput, "HyperparamAOTInput", Field::Target, "name"},
    {Kind::SavedForBackwardsInput, "SavedForBackwardsAOTInput", Field::Idx, "idx"},
    {Kind::PlainOutput, "PlainAOTOutput", Field::Idx, "idx"},
    {Kind::GradOutput, "GradAOTOutput", Field::Inner, "grad_of"},
    {Kind::InputMutationOutput, "InputMutationAOTOutput", Field::Inner, "mutated_input"},
    {Kind::IntermediateBaseOutput, "IntermediateBaseAOTOutput", Field::Inner, "base_of"},
    {Kind::MetadataMutationOutput, "MetadataMutationAOTOutput", Field::Idx, "idx"},
    {Kind::ForwardTokenOutput, "ForwardTokenAOTOutput", Field::Idx, "idx"},
    {Kind::BackwardTokenOutput, "BackwardTokenAOTOutput", Field::Idx, "idx"},
    {Kind::DummyOutput, "DummyAOTOutput", Field::Idx, "idx"},
    {Kind::SavedForBackwardsOutput, "SavedForBackwardsAOTOutput", Field::Idx, "idx"},
};

constexpr bool kinds_in_enum_order() {
  for (size_t i = 0; i < std::size(kKinds); ++i)
    if (static_cast<size_t>(kKinds[i].kind) != i) return false;
  return true;
}
static_assert(kinds_in_enum_order(), "kKinds must list the kinds in enum order");

const KindInfo& info(Kind k) {
  return kKinds[static_cast<size_t>(k)];
}

// Which side the wrapped descriptor must be on.
bool inner_is_input(Kind k) {
  switch (k) {
    case Kind::TangentInput:
    case Kind::IntermediateBaseOutput:
      return false;
    default:
      return true;
  }
}

// Parser for str()'s grammar: Name(field=value), value = int | 'text' | Name(...).
struct Parser {
  const std::string& text;
  size_t pos = 0;

  // Descriptors come from files: nesting is bounded (the parser and the destructor of
  // the nested chain recurse) and messages quote at most the start of the text.
  static constexpr int kMaxDepth = 64;
  int depth = 0;

  [[noreturn]] void fail(const std::string& what) const {
    constexpr size_t kQuote = 120;
    const std::string quoted = text.size() <= kQuote ? text : text.substr(0, kQuote) + "...";
    AG_FAIL("descriptor '{}': {} at position {}", quoted, what, pos);
  }
  void expect(char c) {
    if (pos >= text.size() || text[pos] != c) fail(fmt::format("expected '{}'", c));
    ++pos;
  }
  std::string ident() {
    size_t start = pos;
    while (pos < text.size() && (std::isalnum(static_cast<unsigned char>(text[pos])) || text[pos] == '_')) ++pos;
    if (start == pos) fail("expected a name");
    return text.substr(start, pos - start);
  }
  std::string quoted() {
    expect('\'');
    size_t end = text.find('\'', pos);
    if (end == std::string::npos) fail("unterminated string");
    std::string s = text.substr(pos, end - pos);
    pos = end + 1;
    return s;
  }
  Descriptor nested() {
    if (++depth > kMaxDepth) fail(fmt::format("descriptors nest more than {} deep", kMaxDepth));
    Descriptor d = descriptor();
    --depth;
    return d;
  }
  Descriptor descriptor() {
    const std::string name = ident();
    auto kind = Descriptor::kind_from_name(name);
    if (!kind) fail("unknown descriptor kind '" + name + "'");
    const KindInfo& ki = info(*kind);
    expect('(');
    if (ident() != ki.field_name) fail(fmt::format("expected field '{}'", ki.field_name));
    expect('=');
    std::optional<Descriptor> d;
    switch (ki.field) {
      case Field::Idx: {
        size_t start = pos;
        if (pos < text.size() && text[pos] == '-') ++pos;
        const size_t first_digit = pos;
        while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) ++pos;
        if (first_digit == pos) fail("expected an integer");
        if (pos - start > 18) fail("integer out of range");
        d = Descriptor::indexed(*kind, std::stoll(text.substr(start, pos - start)));
        break;
      }
      case Field::Target:
        d = Descriptor::targeted(*kind, quoted());
        break;
      case Field::Inner:
        d = Descriptor::wrapping(*kind, nested());
        break;
      case Field::InnerAndTarget: {
        Descriptor inner = nested();
        expect(',');
        while (pos < text.size() && text[pos] == ' ') ++pos;
        if (ident() != ki.second_field) fail(fmt::format("expected field '{}'", ki.second_field));
        expect('=');
        d = Descriptor::optimizer_state(inner, quoted());
        break;
      }
    }
    expect(')');
    return *d;
  }
};
}  // namespace

Descriptor Descriptor::tangent(const Descriptor& output) {
  return wrapping(Kind::TangentInput, output);
}
Descriptor Descriptor::grad(const Descriptor& input) {
  return wrapping(Kind::GradOutput, input);
}
Descriptor Descriptor::input_mutation(const Descriptor& input) {
  return wrapping(Kind::InputMutationOutput, input);
}

Descriptor Descriptor::optimizer_state(const Descriptor& param, std::string state) {
  AG_CHECK(param.kind() == Kind::ParamInput, "OptimizerStateAOTInput: the state of {}, but only parameters have one",
           param.str());
  AG_CHECK(!state.empty(), "OptimizerStateAOTInput of {}: the state's name is empty", param.str());
  return {Kind::OptimizerStateInput, 0, std::move(state), std::make_shared<const Descriptor>(param)};
}

Descriptor Descriptor::indexed(Kind kind, int64_t idx) {
  AG_CHECK(info(kind).field == Field::Idx, "{} has no index", kind_name(kind));
  return {kind, idx, {}, nullptr};
}

Descriptor Descriptor::targeted(Kind kind, std::string fqn) {
  AG_CHECK(info(kind).field == Field::Target, "{} has no target", kind_name(kind));
  return {kind, 0, std::move(fqn), nullptr};
}

Descriptor Descriptor::wrapping(Kind kind, const Descriptor& inner) {
  AG_CHECK(info(kind).field == Field::Inner, "{} wraps no descriptor", kind_name(kind));
  AG_CHECK(inner.is_input() == inner_is_input(kind), "{}: cannot wrap {} (expected an {} descriptor)", kind_name(kind),
           inner.str(), inner_is_input(kind) ? "input" : "output");
  return {kind, 0, {}, std::make_shared<const Descriptor>(inner)};
}

bool Descriptor::is_differentiable() const {
  switch (kind_) {
    case Kind::PlainInput:
    case Kind::ParamInput:
    case Kind::BufferInput:
    case Kind::ViewBaseInput:
    case Kind::SyntheticBaseInput:
    case Kind::PlainOutput:
    case Kind::InputMutationOutput:
    case Kind::IntermediateBaseOutput:
      return true;
    default:
      return false;
  }
}

const Descriptor& Descriptor::inner() const {
  AG_CHECK(inner_ != nullptr, "{} wraps no descriptor", str());
  return *inner_;
}

std::string Descriptor::str() const {
  const KindInfo& ki = info(kind_);
  switch (ki.field) {
    case Field::Idx:
      return fmt::format("{}({}={})", ki.name, ki.field_name, idx_);
    case Field::Target:
      return fmt::format("{}({}='{}')", ki.name, ki.field_name, target_);
    case Field::Inner:
      return fmt::format("{}({}={})", ki.name, ki.field_name, inner_->str());
    case Field::InnerAndTarget:
      return fmt::format("{}({}={}, {}='{}')", ki.name, ki.field_name, inner_->str(), ki.second_field, target_);
  }
  return ki.name;
}

const char* Descriptor::kind_name(Kind kind) {
  return info(kind).name;
}

std::optional<Descriptor::Kind> Descriptor::kind_from_name(const std::string& name) {
  for (const KindInfo& ki : kKinds)
    if (name == ki.name) return ki.kind;
  return std::nullopt;
}

Descriptor Descriptor::parse(const std::string& text) {
  Parser p{text};
  Descriptor d = p.descriptor();
  if (p.pos != text.size()) p.fail("unexpected trailing text");
  return d;
}

bool Descriptor::operator==(const Descriptor& o) const {
  if (kind_ != o.kind_ || idx_ != o.idx_ || target_ != o.target_) return false;
  if ((inner_ == nullptr) != (o.inner_ == nullptr)) return false;
  return inner_ == nullptr || *inner_ == *o.inner_;
}

size_t Descriptor::hash() const {
  size_t h = std::hash<int>()(static_cast<int>(kind_));
  h = h * 31 + std::hash<int64_t>()(idx_);
  h = h * 31 + std::hash<std::string>()(target_);
  if (inner_) h = h * 31 + inner_->hash();
  return h;
}

}  // namespace aotgrad
