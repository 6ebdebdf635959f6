#include "ops/schema.h"

#include <cctype>

#include "support/error.h"

namespace aotgrad::ops {

std::string Schema::qualified_name() const {
  return ns + "::" + name + "." + overload;
}
std::string Schema::dotted_name() const {
  return ns + "." + name + "." + overload;
}

int Schema::arg_index(std::string_view n) const {
  for (size_t i = 0; i < args.size(); ++i)
    if (args[i].name == n) return static_cast<int>(i);
  return -1;
}

bool is_tensor_like(ArgType t) {
  return t == ArgType::Tensor || t == ArgType::OptTensor || t == ArgType::TensorList || t == ArgType::OptTensorList;
}

namespace {

std::string trim(std::string s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Splits on commas at bracket depth 0.
std::vector<std::string> split_top(const std::string& s) {
  std::vector<std::string> parts;
  int depth = 0;
  std::string cur;
  for (char c : s) {
    if (c == '(' || c == '[') ++depth;
    if (c == ')' || c == ']') --depth;
    if (c == ',' && depth == 0) {
      parts.push_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!trim(cur).empty()) parts.push_back(trim(cur));
  return parts;
}

struct ParsedType {
  ArgType type;
  bool is_write = false, is_alias = false;
  int fixed_length = 0;
};

ParsedType parse_type(std::string t, const std::string& schema) {
  ParsedType p{};
  // Strip alias annotations: Tensor(a!) / Tensor(a -> *) / Tensor(a)[]
  auto lp = t.find('(');
  if (lp != std::string::npos) {
    auto rp = t.find(')', lp);
    std::string ann = t.substr(lp + 1, rp - lp - 1);
    p.is_write = ann.find('!') != std::string::npos;
    p.is_alias = true;
    t = t.substr(0, lp) + t.substr(rp + 1);
  }
  bool list = false;
  auto lb = t.find('[');
  if (lb != std::string::npos) {
    std::string n = t.substr(lb + 1, t.find(']') - lb - 1);
    if (!n.empty()) p.fixed_length = std::stoi(n);
    list = true;
    t = t.substr(0, lb) + t.substr(t.find(']') + 1);
  }
  bool opt = !t.empty() && t.back() == '?';
  if (opt) t.pop_back();
  // "Tensor?[]" has the ? before the brackets: handled since we removed [] first.
  if (t == "Tensor") {
    p.type = list ? (opt ? ArgType::OptTensorList : ArgType::TensorList) : (opt ? ArgType::OptTensor : ArgType::Tensor);
  } else if (t == "int" || t == "SymInt") {
    p.type = list ? (opt ? ArgType::OptIntList : ArgType::IntList) : (opt ? ArgType::OptInt : ArgType::Int);
  } else if (t == "float") {
    p.type = opt ? ArgType::OptFloat : ArgType::Float;
  } else if (t == "bool") {
    p.type = list ? ArgType::BoolList : (opt ? ArgType::OptBool : ArgType::Bool);
  } else if (t == "Scalar") {
    p.type = opt ? ArgType::OptScalar : ArgType::Scalar;
  } else if (t == "ScalarType") {
    p.type = opt ? ArgType::OptScalarType : ArgType::ScalarType;
  } else if (t == "str") {
    p.type = ArgType::Str;
  } else if (t == "Layout" || t == "Device" || t == "MemoryFormat") {
    p.type = ArgType::Ignored;
  } else {
    AG_INTERNAL_CHECK(false, "schema '{}': unknown type '{}'", schema, t);
  }
  return p;
}

IValue parse_default(const std::string& v, const ParsedType& t, const std::string& schema) {
  if (v == "None") return None{};
  if (v == "True") return true;
  if (v == "False") return false;
  if (v == "Mean") return int64_t{1};  // at::Reduction::Mean
  if (v == "contiguous_format") return None{};
  if (v.size() >= 2 && (v[0] == '\'' || v[0] == '"')) return v.substr(1, v.size() - 2);
  if (v[0] == '[') {
    std::string body = v.substr(1, v.size() - 2);
    if (t.type == ArgType::BoolList) {
      BoolList l;
      for (auto& e : split_top(body)) l.push_back(e == "True");
      return l;
    }
    IntList l;
    for (auto& e : split_top(body)) l.push_back(std::stoll(e));
    return l;
  }
  bool is_float = v.find_first_of(".e") != std::string::npos;
  if (t.type == ArgType::IntList || t.type == ArgType::OptIntList) {
    // "int[2] padding=0": one int stands for the whole list.
    return IntList(std::max(t.fixed_length, 1), std::stoll(v));
  }
  if (t.type == ArgType::Float || t.type == ArgType::OptFloat || is_float) {
    return std::stod(v);
  }
  AG_INTERNAL_CHECK(std::isdigit(static_cast<unsigned char>(v[0])) || v[0] == '-',
                    "schema '{}': cannot parse default '{}'", schema, v);
  return static_cast<int64_t>(std::stoll(v));
}

}  // namespace

bool accepts_wrapped_number(const Schema& schema, const Argument& arg) {
  return arg.type == ArgType::Tensor &&
         (arg.name == "other" || (schema.ns == "prims" && !schema.args.empty() && &arg != &schema.args.front()));
}

Schema parse_schema(const std::string& text) {
  Schema s;
  s.text = text;
  auto lp = text.find('(');
  auto arrow = text.rfind("->");
  AG_INTERNAL_CHECK(lp != std::string::npos && arrow != std::string::npos, "bad schema '{}'", text);
  std::string full = trim(text.substr(0, lp));
  auto colons = full.find("::");
  if (colons != std::string::npos) {
    s.ns = full.substr(0, colons);
    full = full.substr(colons + 2);
  }
  auto dot = full.find('.');
  s.name = full.substr(0, dot);
  s.overload = dot == std::string::npos ? "default" : full.substr(dot + 1);
  auto rp = text.rfind(')', arrow);
  std::string arg_text = text.substr(lp + 1, rp - lp - 1);
  bool kw = false;
  for (const std::string& a : split_top(arg_text)) {
    if (a == "*") {
      kw = true;
      continue;
    }
    Argument arg;
    std::string decl = a, def;
    auto eq = a.find('=');
    if (eq != std::string::npos) {
      decl = trim(a.substr(0, eq));
      def = trim(a.substr(eq + 1));
    }
    auto sp = decl.rfind(' ');
    AG_INTERNAL_CHECK(sp != std::string::npos, "schema '{}': bad argument '{}'", text, a);
    arg.type_text = trim(decl.substr(0, sp));
    arg.name = decl.substr(sp + 1);
    ParsedType pt = parse_type(arg.type_text, text);
    arg.type = pt.type;
    arg.is_write = pt.is_write;
    arg.is_alias = pt.is_alias;
    arg.fixed_length = pt.fixed_length;
    arg.kwarg_only = kw;
    if (!def.empty()) arg.default_value = parse_default(def, pt, text);
    s.args.push_back(std::move(arg));
  }
  std::string ret = trim(text.substr(arrow + 2));
  if (!ret.empty() && ret.front() == '(' && ret.back() == ')') ret = ret.substr(1, ret.size() - 2);
  for (const std::string& r : split_top(ret)) {
    Return out;
    std::string type = r;
    auto sp = r.rfind(' ');
    if (sp != std::string::npos && r.find(')') < sp) {
      type = trim(r.substr(0, sp));
      out.name = r.substr(sp + 1);
    } else if (sp != std::string::npos && r.find('(') == std::string::npos) {
      type = trim(r.substr(0, sp));
      out.name = r.substr(sp + 1);
    }
    ParsedType pt = parse_type(type, text);
    out.type = pt.type;
    out.is_write = pt.is_write;
    out.is_alias = pt.is_alias;
    s.returns.push_back(out);
  }
  return s;
}

}  // namespace aotgrad::ops
