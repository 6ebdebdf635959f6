// Op database entries of the prims (see op_db.h).
#include "op_db.h"
#include "op_db_helpers.h"

namespace aotgrad::testing {

using ops::OpId;

namespace {
std::vector<Sample> same_shape_pair() {
  return {{"same shape", {R({3, 4}), R({3, 4})}},
          {"non-contiguous", {NC({3, 4}), R({3, 4})}},
          {"number", {R({2, 3}), IValue(1.5)}},
          {"0-d", {R({}), R({})}},
          // PyTorch's prims take a 0-d tensor beside any shape, on either side.
          {"0-d other", {R({3, 4}), R({})}},
          {"0-d self", {R({}), NC({3, 4})}}};
}
std::vector<Sample> positive_pair() {
  return {{"same shape", {P({3, 4}), P({3, 4})}}, {"number", {P({2, 3}), IValue(2.0)}}};
}
Tensor sum_ref(const Tensor& x, int64_t dim) {  // 2-d, one dim
  std::vector<double> v = x.to_vector<double>();
  const int64_t r = x.size(0), c = x.size(1);
  std::vector<double> out(dim == 0 ? c : r, 0.0);
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < c; ++j) out[dim == 0 ? j : i] += v[i * c + j];
  return Tensor::from_vector<double>(out, {dim == 0 ? c : r});
}
// prims.where, whose a or b may be a number (relu's lowering).
void add_where_entry(std::vector<OpEntry>& db) {
  add_entry(db, OpId::prims_where,
            [] {
              return std::vector<Sample>{{"2d", {B({3, 4}), R({3, 4}), NC({3, 4})}},
                                         {"number a (relu's lowering)", {B({3, 4}), IValue(0.0), R({3, 4})}},
                                         {"number b", {B({2, 3}), R({2, 3}), IValue(-1.5)}}};
            })
      ->errors = {{{B({3}), R({3, 4}), R({3, 4})}, {"prims.where", "one shape", "[3]"}},
                  {{B({3}), IValue(0.0), IValue(1.0)}, {"prims.where", "two numbers"}}};
}
// prims.view_of and prims.reshape: views of all of their input.
void add_prim_view_entries(std::vector<OpEntry>& db) {
  add_entry(db, OpId::prims_view_of, [] { return std::vector<Sample>{{"non-contiguous", {NC({3, 4})}}}; });
  add_entry(db, OpId::prims_reshape, [] {
    return std::vector<Sample>{{"split dims", {R({3, 4}), IntList{2, 6}}}};
  })->errors = {{{NC({3, 4}), IntList{2, 6}}, {"prims.reshape", "[3, 4]", "cannot be viewed as [2, 6]"}}};
}
}  // namespace

void add_prim_entries(std::vector<OpEntry>& db) {
  struct Unary {
    OpId op;
    double (*f)(double);
    bool positive;
  };
  const Unary unary[] = {
      {OpId::prims_neg, [](double x) { return -x; }, false},
      {OpId::prims_abs, [](double x) { return std::abs(x); }, true},
      {OpId::prims_exp, [](double x) { return std::exp(x); }, false},
      {OpId::prims_log, [](double x) { return std::log(x); }, true},
      {OpId::prims_sin, [](double x) { return std::sin(x); }, false},
      {OpId::prims_cos, [](double x) { return std::cos(x); }, false},
      {OpId::prims_tanh, [](double x) { return std::tanh(x); }, false},
      {OpId::prims_sqrt, [](double x) { return std::sqrt(x); }, true},
      {OpId::prims_rsqrt, [](double x) { return 1 / std::sqrt(x); }, true},
      {OpId::prims_erf, [](double x) { return std::erf(x); }, false},
      {OpId::prims_sign, [](double x) { return double((x > 0) - (x < 0)); }, true},
      {OpId::prims_reciprocal, [](double x) { return 1 / x; }, true},
  };
  for (const Unary& u : unary) add_entry(db, u.op, u.positive ? positive_samples : unary_samples, unary_ref(u.f));

  struct Binary {
    OpId op;
    double (*f)(double, double);
  };
  const Binary binary[] = {
      {OpId::prims_add, [](double a, double b) { return a + b; }},
      {OpId::prims_sub, [](double a, double b) { return a - b; }},
      {OpId::prims_mul, [](double a, double b) { return a * b; }},
      {OpId::prims_maximum, [](double a, double b) { return std::max(a, b); }},
      {OpId::prims_minimum, [](double a, double b) { return std::min(a, b); }},
      {OpId::prims_eq, [](double a, double b) { return double(a == b); }},
      {OpId::prims_ne, [](double a, double b) { return double(a != b); }},
      {OpId::prims_gt, [](double a, double b) { return double(a > b); }},
      {OpId::prims_ge, [](double a, double b) { return double(a >= b); }},
      {OpId::prims_lt, [](double a, double b) { return double(a < b); }},
      {OpId::prims_le, [](double a, double b) { return double(a <= b); }},
  };
  for (const Binary& b : binary) {
    auto f = b.f;
    add_entry(db, b.op, same_shape_pair, [f](const Args& a) { return map2_ref(a[0], a[1], f); })->errors = {
        {{R({3, 4}), R({4})}, {"prims.", "one shape", "[3, 4]", "[4]"}}};
  }
  add_entry(db, OpId::prims_div, positive_pair,
            [](const Args& a) { return map2_ref(a[0], a[1], [](double x, double y) { return x / y; }); });
  add_entry(db, OpId::prims_pow, positive_pair,
            [](const Args& a) { return map2_ref(a[0], a[1], [](double x, double y) { return std::pow(x, y); }); });
  add_entry(
      db, OpId::prims_bitwise_and,
      [] {
        return std::vector<Sample>{{"bools", {B({3, 4}), B({3, 4})}}};
      },
      [](const Args& a) { return map2_ref(a[0], a[1], [](double x, double y) { return double(x && y); }); });
  add_where_entry(db);
  add_entry(db, OpId::prims_convert_element_type, [] {
    return std::vector<Sample>{{"to f32", {R({3, 4}), DType::Float32}}, {"same", {R({2}), DType::Float64}}};
  })->grad_rtol = 5e-2;  // finite differences through float32 are only good to ~1e-2
  add_entry(db, OpId::prims_clone, [] { return std::vector<Sample>{{"non-contiguous", {NC({3, 4})}}}; });
  add_entry(db, OpId::prims_full, [] {
    return std::vector<Sample>{{"2d", {IntList{2, 3}, IValue(1.5), DType::Float64}},
                               {"0-d", {IntList{}, IValue(2), DType::Int64}}};
  });
  add_entry(db, OpId::prims_broadcast_in_dim, [] {
    return std::vector<Sample>{{"new leading dim", {R({3}), IntList{2, 3}, IntList{1}}},
                               {"expand size 1", {R({3, 1}), IntList{3, 4}, IntList{0, 1}}},
                               {"0-d", {R({}), IntList{2, 2}, IntList{}}}};
  })->errors = {{{R({3}), IntList{2, 4}, IntList{1}}, {"prims.broadcast_in_dim", "size 3", "size 4"}}};
  add_entry(db, OpId::prims_transpose, [] { return std::vector<Sample>{{"3d", {R({2, 3, 4}), IntList{2, 0, 1}}}}; });
  add_entry(db, OpId::prims_squeeze, [] { return std::vector<Sample>{{"two dims", {R({1, 3, 1}), IntList{0, 2}}}}; });
  add_entry(db, OpId::prims_slice, [] {
    return std::vector<Sample>{{"strided", {R({5, 4}), IntList{1, 0}, IntList{5, 3}, IntList{2, 1}}}};
  });
  add_prim_view_entries(db);
  add_entry(db, OpId::prims_cat, [] {
    return std::vector<Sample>{{"dim 1", {TensorList{R({2, 3}), NC({2, 2})}, IValue(int64_t{1})}}};
  });
  add_entry(
      db, OpId::prims_sum,
      [] {
        return std::vector<Sample>{{"dim 0", {R({3, 4}), IntList{0}}}, {"all", {R({3, 4}), None{}}}};
      },
      [](const Args& a) {
        if (a[1].is_none()) {
          double total = 0;
          for (double v : a[0].to_tensor().to_vector<double>()) total += v;
          return Tensor::scalar<double>(total);
        }
        return sum_ref(a[0].to_tensor(), a[1].to_int_list()[0]);
      });
  add_entry(db, OpId::prims_amax, [] { return std::vector<Sample>{{"dim 1", {R({3, 4}), IntList{1}}}}; });
  add_entry(db, OpId::prims_var, [] {
    return std::vector<Sample>{{"dim 1", {R({3, 4}), IntList{1}, IValue(1.0)}},
                               {"biased", {R({3, 4}), IntList{0}, IValue(0.0)}}};
  });
}

}  // namespace aotgrad::testing
