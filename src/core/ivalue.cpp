#include "aotgrad/ivalue.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "support/error.h"

namespace aotgrad {

double Scalar::to_double() const {
  if (auto* d = std::get_if<double>(&v_)) return *d;
  if (auto* i = std::get_if<int64_t>(&v_)) return static_cast<double>(*i);
  return std::get<bool>(v_) ? 1.0 : 0.0;
}

int64_t Scalar::to_int() const {
  if (auto* i = std::get_if<int64_t>(&v_)) return *i;
  if (auto* d = std::get_if<double>(&v_)) return static_cast<int64_t>(*d);
  return std::get<bool>(v_) ? 1 : 0;
}

// Python's float repr: the shortest text that round-trips, with ".0" for integral
// values and exponent form outside [1e-4, 1e16).
static std::string python_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  std::string s = buf;
  double a = std::fabs(d);
  bool use_exp = a != 0 && (a < 1e-4 || a >= 1e16);
  if (!use_exp) {
    // %g may still have chosen exponent form (e.g. 1e+10): expand it.
    if (s.find('e') != std::string::npos) {
      int digits = 0;
      for (int prec = 1; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (std::strtod(buf, nullptr) == d) {
          digits = prec;
          break;
        }
      }
      int exp10 = static_cast<int>(std::floor(std::log10(a)));
      int decimals = std::max(0, digits - 1 - exp10);
      std::snprintf(buf, sizeof buf, "%.*f", decimals, d);
      s = buf;
    }
    if (s.find('.') == std::string::npos) s += ".0";
    return s;
  }
  // Exponent form: Python writes 1e-05, 1.5e+16.
  auto e = s.find('e');
  std::string mant = s.substr(0, e), ex = s.substr(e + 1);
  char sign = ex[0];
  std::string digits = ex.substr(1);
  while (digits.size() > 2 && digits[0] == '0') digits.erase(0, 1);
  if (digits.size() < 2) digits = "0" + digits;
  return mant + "e" + sign + digits;
}

std::string Scalar::repr() const {
  if (auto* d = std::get_if<double>(&v_)) return python_float_repr(*d);
  if (auto* i = std::get_if<int64_t>(&v_)) return std::to_string(*i);
  return std::get<bool>(v_) ? "True" : "False";
}

IValue::IValue(const Scalar& s) {
  if (s.is_floating())
    v_ = s.to_double();
  else if (s.is_bool())
    v_ = s.to_int() != 0;
  else
    v_ = s.to_int();
}

std::string IValue::type_name() const {
  switch (v_.index()) {
    case 0:
      return "None";
    case 1:
      return "Tensor " + std::get<Tensor>(v_).describe();
    case 2:
      return "int";
    case 3:
      return "float";
    case 4:
      return "bool";
    case 5:
      return "str";
    case 6:
      return "int[]";
    case 7:
      return "Tensor[]";
    case 8:
      return "bool[]";
    case 9:
      return "ScalarType";
  }
  return "?";
}

#define AG_IVALUE_GET(T, what)                                         \
  auto* p = std::get_if<T>(&v_);                                       \
  AG_CHECK(p != nullptr, "expected {} but got {}", what, type_name()); \
  return *p;

const Tensor& IValue::to_tensor() const {AG_IVALUE_GET(Tensor, "a Tensor")} Tensor IValue::to_opt_tensor() const {
  if (is_none()) return Tensor();
  return to_tensor();
}
int64_t IValue::to_int() const {
  if (auto* b = std::get_if<bool>(&v_)) return *b;
  AG_IVALUE_GET(int64_t, "an int")
}
double IValue::to_double() const {
  if (auto* i = std::get_if<int64_t>(&v_)) return static_cast<double>(*i);
  AG_IVALUE_GET(double, "a float")
}
bool IValue::to_bool() const {AG_IVALUE_GET(bool, "a bool")} Scalar IValue::to_scalar() const {
  if (auto* d = std::get_if<double>(&v_)) return Scalar(*d);
  if (auto* i = std::get_if<int64_t>(&v_)) return Scalar(*i);
  if (auto* b = std::get_if<bool>(&v_)) return Scalar(*b);
  AG_FAIL("expected a Scalar (int, float or bool) but got {}", type_name());
}
const std::string& IValue::to_string() const {
  AG_IVALUE_GET(std::string, "a str")
}
const IntList& IValue::to_int_list() const {
  AG_IVALUE_GET(IntList, "a list of ints")
}
const TensorList& IValue::to_tensor_list() const {
    AG_IVALUE_GET(TensorList, "a list of Tensors")} TensorList& IValue::to_tensor_list() {
  AG_IVALUE_GET(TensorList, "a list of Tensors")
}
const BoolList& IValue::to_bool_list() const {
    AG_IVALUE_GET(BoolList, "a list of bools")} DType IValue::to_dtype() const {
  AG_IVALUE_GET(DType, "a ScalarType")
}
#undef AG_IVALUE_GET

namespace {
std::shared_ptr<const std::vector<SymExpr>> expressions_if_symbolic(std::vector<SymExpr> exprs) {
  const bool symbolic = std::any_of(exprs.begin(), exprs.end(), [](const SymExpr& e) { return !e.is_constant(); });
  return symbolic ? std::make_shared<const std::vector<SymExpr>>(std::move(exprs)) : nullptr;
}
}  // namespace

IValue::IValue(const SymInt& i) : v_(i.hint), sym_(expressions_if_symbolic({i.expr})) {}
IValue::IValue(const SymShape& l) : v_(hints_of(l)) {
  std::vector<SymExpr> exprs;
  for (const SymInt& i : l) exprs.push_back(i.expr);
  sym_ = expressions_if_symbolic(std::move(exprs));
}

SymInt IValue::to_sym_int() const {
  const int64_t hint = to_int();
  return sym_ ? SymInt(sym_->at(0), hint) : SymInt(hint);
}
SymShape IValue::to_sym_int_list() const {
  const IntList& hints = to_int_list();
  SymShape out;
  for (size_t i = 0; i < hints.size(); ++i) out.push_back(sym_ ? SymInt(sym_->at(i), hints[i]) : SymInt(hints[i]));
  return out;
}

bool IValue::operator==(const IValue& o) const {
  if (v_.index() != o.v_.index()) return false;
  if ((sym_ == nullptr) != (o.sym_ == nullptr) || (sym_ && *sym_ != *o.sym_)) return false;
  if (is_tensor()) return to_tensor().is_same(o.to_tensor());
  if (is_tensor_list()) {
    const auto &a = to_tensor_list(), &b = o.to_tensor_list();
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!a[i].is_same(b[i])) return false;
    return true;
  }
  return std::visit(
      [&](const auto& a) {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, Tensor> || std::is_same_v<T, TensorList>) {
          return false;  // handled above
        } else {
          return a == std::get<T>(o.v_);
        }
      },
      v_);
}

}  // namespace aotgrad
