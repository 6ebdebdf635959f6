// print_readable: the graph as FX prints it (SPEC.md §4, "Printing").
//
// The text follows FX's Python code generator: a class holding `forward`; with a
// calling-convention spec the signature shows the unflattened arguments and a
// tree_flatten_spec line binds the placeholders; each node is
// `name: "f32[2, 3]" = torch.ops.aten.op.overload(args)` followed by
// `;  a = b = None` for the values whose last use it is; the return rebuilds the
// output structure. The expanded form puts each argument and returned value on its
// own line with its descriptor; the compact form groups nodes under comment lines
// showing their annotation and stack trace. Unlike FX, no line ends in spaces.
#include <cctype>
#include <charconv>
#include <cmath>
#include <functional>
#include <map>

#include "aotgrad/graph.h"
#include "ops/registry.h"
#include "support/error.h"

namespace aotgrad::graph {

std::string python_float_repr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
  // Shortest round-trip digits, then Python's choice of notation (repr uses
  // scientific notation when the decimal exponent is < -4 or >= 16).
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string s(buf, res.ptr);
  const bool neg = s[0] == '-';
  if (neg) s.erase(0, 1);
  const size_t e = s.find('e');
  const int exp = std::stoi(s.substr(e + 1));
  std::string digits = s.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  std::string out;
  if (exp < -4 || exp >= 16) {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += fmt::format("e{}{:02d}", exp < 0 ? '-' : '+', std::abs(exp));
  } else if (exp < 0) {
    out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
  } else {
    const size_t int_len = static_cast<size_t>(exp) + 1;
    if (digits.size() <= int_len) {
      out = digits + std::string(int_len - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, int_len) + "." + digits.substr(int_len);
    }
  }
  return neg ? "-" + out : out;
}

namespace {

std::string python_str_repr(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// The names a symbolic graph's sizes print under where they flow into arguments:
// FX's `sym_size_int = torch.ops.aten.sym_size.int(x, 0)` nodes, one per symbol.
using SymNames = std::vector<std::string>;

// A size expression as Python over those names: "64*sym_size_int".
std::string sym_arg_repr(const SymExpr& e, const SymNames& names) {
  const std::string text = e.str();
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const bool symbol = text[i] == 's' && i + 1 < text.size() &&
                        std::isdigit(static_cast<unsigned char>(text[i + 1])) &&
                        (i == 0 || !std::isalnum(static_cast<unsigned char>(text[i - 1])));
    if (!symbol) {
      out += text[i++];
      continue;
    }
    size_t j = i + 1;
    while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
    const auto k = static_cast<size_t>(std::stoll(text.substr(i + 1, j - i - 1)));
    out += k < names.size() ? names[k] : text.substr(i, j - i);
    i = j;
  }
  return out;
}

std::string arg_repr(const Arg& a, const SymNames& names = {}) {
  if (a.is_node()) return a.node()->name();
  if (a.is_none()) return "None";
  if (a.is_bool()) return a.to_bool() ? "True" : "False";
  if (a.is_int()) return std::to_string(a.to_int());
  if (a.is_double()) return python_float_repr(a.to_double());
  if (a.is_string()) return python_str_repr(a.str());
  if (a.is_dtype()) return "torch." + std::string(dtype_name(a.dtype()));
  if (a.is_sym()) return sym_arg_repr(a.sym(), names);
  std::string out = "[";
  for (size_t i = 0; i < a.list().size(); ++i) out += (i ? ", " : "") + arg_repr(a.list()[i], names);
  return out + "]";
}

// Python's tuple display: "(a,)", "(a, b)".
std::string tuple_repr(const Arg::List& items) {
  std::string out = "(";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + arg_repr(items[i]);
  return out + (items.size() == 1 ? ",)" : ")");
}

std::string format_args(const Node& n, const SymNames& names) {
  std::string out;
  for (const Arg& a : n.args()) out += (out.empty() ? "" : ", ") + arg_repr(a, names);
  for (const auto& [k, v] : n.kwargs()) out += (out.empty() ? "" : ", ") + k + " = " + arg_repr(v, names);
  return out;
}

std::string type_annotation(const Node& n) {
  if (n.meta.val.kind != FakeVal::Kind::Tensor || !n.meta.val.items[0]) return "";
  return ": \"" + n.meta.val.items[0]->str() + "\"";
}

// "File: model.cpp:42 in forward, code: y = linear(x)" from a traceback whose
// innermost frame is last: 'File "model.cpp", line 42, in forward' then the code.
// The compact comment's trace: the innermost frame, as FX's summary prints it.
std::string stack_summary(const StackTrace& trace) {
  if (const StackFrame* f = trace.innermost())
    return fmt::format("File: {}:{} in {}, code: {}", f->file, f->line, f->function, f->code);
  return trace.first_verbatim_line();  // an imported model's node names the ONNX node it came from
}

class Printer {
 public:
  Printer(const GraphModule& gm, PrintFormat format, std::string class_name)
      : gm_(gm), g_(*gm.graph), expanded_(format == PrintFormat::Expanded), class_name_(std::move(class_name)) {}

  std::string print() {
    compute_last_uses();
    std::vector<std::string> lines;  // relative to the class body
    emit_signature(lines);
    // Note [Stack trace comments]: as FX's codegen, in both formats: a comment opens
    // each run of nodes with the same stack trace (its innermost frame, after the
    // node's annotation and seq_nr), or with none ("No stacktrace found ..."), and a
    // blank line separates runs; the first comment follows the signature directly.
    std::optional<std::string> prev_trace;
    bool first_comment = true;
    for (const auto& node : g_.nodes()) {
      const Node& n = *node;
      if (n.op() == NodeOp::Placeholder) continue;
      if (n.op() == NodeOp::Output) {
        emit_output(n, lines);
        continue;
      }
      const std::string trace = n.meta.stack_trace.text();
      if (trace != prev_trace) {
        prev_trace = trace;
        if (!first_comment) lines.push_back("");
        first_comment = false;
        lines.push_back("    " + summary_comment(n));
      }
      lines.push_back("    " + node_line(n) + deletions(n));
    }
    std::string out = "class " + class_name_ + "(torch.nn.Module):\n";
    for (const std::string& l : lines) out += l.empty() ? "\n" : "    " + l + "\n";
    for (const auto& [name, sub] : gm_.subgraphs) {
      std::string text = Printer(*sub, expanded_ ? PrintFormat::Expanded : PrintFormat::Compact, name).print();
      out += "\n";
      size_t start = 0;
      while (start < text.size()) {
        size_t end = text.find('\n', start);
        std::string l = text.substr(start, end - start);
        out += l.empty() ? "\n" : "    " + l + "\n";
        start = end + 1;
      }
    }
    return out;
  }

 private:
  void compute_last_uses() {
    const auto& nodes = g_.nodes();
    std::map<const Node*, bool> seen;
    for (size_t i = nodes.size(); i-- > 0;) {
      for (Node* in : nodes[i]->input_nodes()) {
        if (seen[in]) continue;
        seen[in] = true;
        last_uses_[nodes[i].get()].push_back(in);
      }
    }
  }

  std::string deletions(const Node& n) {
    std::vector<const Node*> dead = last_uses_[&n];
    if (n.users().empty()) dead.push_back(&n);  // never used: freed at once
    if (dead.empty()) return "";
    std::string s = ";  ";
    for (const Node* d : dead) s += d->name() + " = ";
    return s + "None";
  }

  std::string node_line(const Node& n) {
    if (n.op() == NodeOp::GetAttr) return n.name() + type_annotation(n) + " = self." + n.target().name;
    if (n.target().kind == Target::Kind::GetItem)
      return n.name() + type_annotation(n) + " = " + arg_repr(n.args()[0]) + "[" + arg_repr(n.args()[1]) + "]";
    return n.name() + type_annotation(n) + " = " + n.target().qualified() + "(" + format_args(n, sym_names_) + ")";
  }

  std::string summary_comment(const Node& n) {
    const std::string trace = stack_summary(n.meta.stack_trace);
    if (trace.empty()) return "# No stacktrace found for following nodes";
    Annotations shown = n.meta.custom;
    if (n.meta.seq_nr) shown.emplace_back("seq_nr", *n.meta.seq_nr);
    return "#" + (shown.empty() ? std::string() : " Annotation: " + annotations_str(shown)) + " " + trace;
  }

  std::string free_var(const Node& p, bool with_desc) {
    std::string s = p.name() + type_annotation(p);
    if (with_desc && p.meta.desc) s += "  # " + p.meta.desc->str();
    return s;
  }

  // Symbolic shapes: where each symbol comes from and the guards, as comments.
  void emit_symbols(std::vector<std::string>& lines) const {
    for (size_t k = 0; k < gm_.symbols.size(); ++k)
      lines.push_back(fmt::format("    # s{} = {}.size({})", k, gm_.symbols[k].placeholder, gm_.symbols[k].dim));
    if (gm_.guards.empty()) return;
    std::string guards;
    for (const SymGuard& g : gm_.guards) guards += (guards.empty() ? "" : ", ") + g.str();
    lines.push_back("    # Guards: " + guards);
  }

  void emit_signature(std::vector<std::string>& lines) {
    std::vector<Node*> ph = g_.placeholders();
    const bool pytree_style = gm_.in_spec.has_value();
    std::vector<std::string> params{"self"};
    if (pytree_style) {
      for (const auto& a : gm_.arg_names) params.push_back(a);
    } else {
      for (Node* p : ph) params.push_back(free_var(*p, expanded_));
    }
    if (expanded_) {
      lines.push_back("def forward(");
      for (const std::string& p : params) {
        size_t hash = p.find("  # ");
        lines.push_back("    " + (hash == std::string::npos ? p + "," : p.substr(0, hash) + "," + p.substr(hash)));
      }
      lines.push_back("):");
    } else {
      std::string sig = "def forward(";
      for (size_t i = 0; i < params.size(); ++i) sig += (i ? ", " : "") + params[i];
      lines.push_back(sig + "):");
    }
    emit_symbols(lines);
    if (pytree_style && !ph.empty()) emit_pytree_flatten(lines, ph);
    emit_sym_sizes(lines);
  }

  // FX's sym_size nodes for the symbols that arguments use, after the placeholders.
  void emit_sym_sizes(std::vector<std::string>& lines) {
    std::vector<bool> used(gm_.symbols.size(), false);
    std::function<void(const Arg&)> visit = [&](const Arg& a) {
      if (a.is_sym())
        for (int64_t k : a.sym().symbols())
          if (k < static_cast<int64_t>(used.size())) used[static_cast<size_t>(k)] = true;
      if (a.is_list())
        for (const Arg& x : a.list()) visit(x);
    };
    for (const auto& node : g_.nodes()) {
      for (const Arg& a : node->args()) visit(a);
      for (const auto& [name, a] : node->kwargs()) visit(a);
    }
    sym_names_.assign(gm_.symbols.size(), "");
    int count = 0;
    for (size_t k = 0; k < used.size(); ++k) {
      if (!used[k]) continue;
      std::string name = "sym_size_int" + (count ? "_" + std::to_string(count) : std::string());
      while (g_.find(name) != nullptr) name += "_";
      ++count;
      sym_names_[k] = name;
      lines.push_back(fmt::format("    {}: \"Sym(s{})\" = torch.ops.aten.sym_size.int({}, {})", name, k,
                                  gm_.symbols[k].placeholder, gm_.symbols[k].dim));
    }
  }

  void emit_pytree_flatten(std::vector<std::string>& lines, const std::vector<Node*>& ph) {
    if (expanded_) {
      for (Node* p : ph) lines.push_back("    " + free_var(*p, true));
    } else {
      std::string anns;
      for (Node* p : ph) anns += free_var(*p, false) + "; ";
      while (!anns.empty() && anns.back() == ' ') anns.pop_back();
      lines.push_back("    " + anns);
      lines.push_back("");
    }
    std::string names;
    for (Node* p : ph) names += p->name() + ", ";
    std::string args;
    for (size_t i = 0; i < gm_.arg_names.size(); ++i) args += (i ? ", " : "") + gm_.arg_names[i];
    lines.push_back("    " + names + "= fx_pytree.tree_flatten_spec([" + args + "], self._in_spec)");
  }

  void emit_output(const Node& n, std::vector<std::string>& lines) {
    const Arg::List& values = n.args()[0].list();
    const bool pytree_style = gm_.out_spec.has_value();
    const std::string open = pytree_style ? "return pytree.tree_unflatten(" : "return ";
    const std::string close = pytree_style ? ", self._out_spec)" : "";
    const bool with_descs = expanded_ && !n.meta.out_descs.empty();
    if (with_descs) {
      lines.push_back("    " + open + "[");
      for (size_t i = 0; i < values.size(); ++i) {
        std::string desc = i < n.meta.out_descs.size() && n.meta.out_descs[i] ? n.meta.out_descs[i]->str() : "None";
        lines.push_back("        " + arg_repr(values[i]) + ",  # " + desc);
      }
      lines.push_back("    ]" + close);
    } else {
      lines.push_back("    " + open + (gm_.output_is_tuple ? tuple_repr(values) : arg_repr(n.args()[0])) + close);
    }
  }

  const GraphModule& gm_;
  const Graph& g_;
  bool expanded_;
  std::string class_name_;
  std::map<const Node*, std::vector<const Node*>> last_uses_;
  SymNames sym_names_;  // per symbol: the name it prints under in arguments
};

}  // namespace

std::string print_readable(const GraphModule& gm, PrintFormat format) {
  return Printer(gm, format, gm.name).print();
}

}  // namespace aotgrad::graph
