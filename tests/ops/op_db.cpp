#include "op_db.h"

#include <cmath>
#include <cstdlib>

#include "op_db_helpers.h"

#include "aotgrad/ops.h"
#include "aotgrad/random.h"

namespace aotgrad::testing {

using ops::OpId;

namespace {

std::vector<Sample> binary_samples() {
  return {{"same shape", {R({3, 4}), R({3, 4})}},
          {"broadcast", {R({3, 1}), R({4})}},
          {"size-1 and 0-d", {R({1, 4}), R({})}},
          {"non-contiguous", {NC({3, 4}), R({3, 4})}},
          // One operand repeated whole over the other's outer dims (the flat loops per
          // repetition in map2), on either side.
          {"repeated second", {R({3, 2, 16}), R({2, 16})}},
          {"repeated first", {R({1, 16}), R({4, 16})}},
          {"wrapped number", {R({2, 3}), IValue(1.5)}}};  // last: tensor_pairs drops it
}
std::vector<Sample> scalar_samples() {
  return {{"2d", {R({3, 4}), IValue(1.5)}}, {"non-contiguous", {NC({3, 4}), IValue(-2.0)}}};
}
double gelu_ref(double x) {
  return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
}
double sgn_ref(double x) {
  return (x > 0) - (x < 0);
}

Tensor mm_ref(const Tensor& a, const Tensor& b) {
  const int64_t n = a.size(0), k = a.size(1), m = b.size(1);
  std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>(), out(n * m, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j)
      for (int64_t p = 0; p < k; ++p) out[i * m + j] += va[i * k + p] * vb[p * m + j];
  return Tensor::from_vector<double>(out, {n, m});
}

// Direct 2-d convolution: the definition, loop by loop.
Tensor conv_ref(const Args& a) {
  const Tensor &x = a[0].to_tensor(), &w = a[1].to_tensor();
  Tensor b = a[2].to_opt_tensor();
  IntList st = a[3].to_int_list(), pad = a[4].to_int_list(), dil = a[5].to_int_list();
  const int64_t groups = a[8].to_int();
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
  const int64_t oc = w.size(0), kh = w.size(2), kw = w.size(3), cg = c / groups, ocg = oc / groups;
  const int64_t oh = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) / st[0] + 1;
  const int64_t ow = (wd + 2 * pad[1] - dil[1] * (kw - 1) - 1) / st[1] + 1;
  std::vector<double> vx = x.to_vector<double>(), vw = w.to_vector<double>(), out(n * oc * oh * ow);
  std::vector<double> vb = b.defined() ? b.to_vector<double>() : std::vector<double>(oc, 0.0);
  for (int64_t bi = 0; bi < n; ++bi)
    for (int64_t o = 0; o < oc; ++o)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t xx = 0; xx < ow; ++xx) {
          double s = vb[o];
          const int64_t g = o / ocg;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                int64_t iy = y * st[0] - pad[0] + i * dil[0], ix = xx * st[1] - pad[1] + j * dil[1];
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                s += vx[((bi * c + g * cg + ci) * h + iy) * wd + ix] * vw[((o * cg + ci) * kh + i) * kw + j];
              }
          out[((bi * oc + o) * oh + y) * ow + xx] = s;
        }
  return Tensor::from_vector<double>(out, {n, oc, oh, ow});
}

// Convolution: dense, strided, dilated, grouped and depthwise samples.
void add_conv_entries(std::vector<OpEntry>& db) {
  auto conv = [](Tensor x, Tensor w, Tensor b, IntList s, IntList p, IntList d, int64_t g) {
    return Args{x, w, b.defined() ? IValue(b) : IValue(None{}), s, p, d, false, IntList{0, 0}, g};
  };
  testing::add_entry(
      db, OpId::convolution,
      [conv] {
        return std::vector<Sample>{
            {"pad 1", conv(R({2, 3, 5, 5}), R({4, 3, 3, 3}), R({4}), {1, 1}, {1, 1}, {1, 1}, 1)},
            {"stride 2", conv(R({1, 2, 6, 5}), R({3, 2, 3, 2}), Tensor(), {2, 1}, {1, 0}, {1, 1}, 1)},
            // Strided along the rows too (im2col's strided-column path), padded both sides.
            {"stride 2x2 pad 1", conv(R({1, 2, 7, 8}), R({3, 2, 3, 3}), R({3}), {2, 2}, {1, 1}, {1, 1}, 1)},
            {"stride 3 dilation 2", conv(R({1, 2, 5, 11}), R({2, 2, 2, 3}), Tensor(), {1, 3}, {0, 2}, {1, 2}, 1)},
            {"dilation 2 groups 2", conv(R({1, 4, 7, 7}), R({4, 2, 3, 3}), R({4}), {1, 1}, {2, 2}, {2, 2}, 2)},
            {"1x1", conv(R({2, 3, 4, 4}), R({5, 3, 1, 1}), R({5}), {1, 1}, {0, 0}, {1, 1}, 1)},
            // Maps wide enough for one product per image (conv_forward_chunk), three
            // images: through im2col with groups, and 1x1 in place.
            {"wide map groups 2", conv(R({3, 4, 24, 24}), R({4, 2, 3, 3}), R({4}), {1, 1}, {1, 1}, {1, 1}, 2)},
            {"1x1 wide map", conv(R({3, 3, 6, 6}), R({5, 3, 1, 1}), R({5}), {1, 1}, {0, 0}, {1, 1}, 1)},
            // 1x1 maps (a squeeze-and-excitation block's): a linear layer, the images
            // against the transposed weight.
            {"1x1 on 1x1 maps", conv(R({3, 20, 1, 1}), R({17, 20, 1, 1}), R({17}), {1, 1}, {0, 0}, {1, 1}, 1)},
            // Small maps: each thread's share of the five images (3 and 2 at two threads)
            // side by side as one product, then scattered into NCHW with the bias.
            {"small maps images over the threads",
             conv(R({5, 16, 3, 3}), R({32, 16, 3, 3}), R({32}), {1, 1}, {1, 1}, {1, 1}, 1)},
            // Depthwise (one input channel per group): the direct kernel, not the GEMMs.
            {"depthwise stride 2", conv(R({2, 3, 6, 5}), R({3, 1, 3, 3}), R({3}), {2, 2}, {1, 1}, {1, 1}, 3)},
            {"depthwise multiplier 2 dilation 2",
             conv(R({1, 2, 7, 6}), R({4, 1, 3, 2}), Tensor(), {1, 1}, {2, 1}, {2, 2}, 2)}};
      },
      conv_ref);
  testing::add_entry(db, OpId::convolution_backward, [] {
    return std::vector<Sample>{
        {"pad 1",
         {R({2, 4, 5, 5}), R({2, 3, 5, 5}), R({4, 3, 3, 3}), IntList{4}, IntList{1, 1}, IntList{1, 1}, IntList{1, 1},
          false, IntList{0, 0}, IValue(int64_t{1}), BoolList{true, true, true}}},
        {"depthwise",
         {R({2, 3, 3, 3}), R({2, 3, 6, 5}), R({3, 1, 3, 3}), IntList{3}, IntList{2, 2}, IntList{1, 1}, IntList{1, 1},
          false, IntList{0, 0}, IValue(int64_t{3}), BoolList{true, true, true}}}};
  });
}

void add_masked_fill_entry(std::vector<OpEntry>& db) {
  testing::add_entry(
      db, OpId::masked_fill_Scalar,
      [] {
        return std::vector<Sample>{{"broadcast mask", {R({3, 4}), B({4}), IValue(-1.0)}},
                                   {"mask repeated", {R({3, 2, 32}), B({2, 32}), IValue(-1.0)}},
                                   {"mask with a leading 1", {R({4, 32}), B({1, 32}), IValue(2.5)}}};
      },
      [](const Args& a) {
        const double fill = a[2].to_scalar().to_double();
        return map2_ref(a[0], a[1], [fill](double x, double m) { return m != 0 ? fill : x; });
      });
}

void add_power_entries(std::vector<OpEntry>& db) {
  testing::add_entry(
      db, OpId::pow_Tensor_Scalar,
      [] {
        return std::vector<Sample>{{"cube", {R({3, 4}), IValue(int64_t{3})}}, {"fractional", {P({3, 4}), IValue(1.5)}}};
      },
      [](const Args& a) { return map2_ref(a[0], a[1], [](double x, double y) { return std::pow(x, y); }); });
  testing::add_entry(
      db, OpId::pow_Tensor_Tensor,
      [] {
        return std::vector<Sample>{
            {"broadcast", {P({3, 4}), R({4})}}, {"0-d exponent", {P({3, 4}), R({})}}, {"0-d base", {P({}), R({3})}}};
      },
      [](const Args& a) { return map2_ref(a[0], a[1], [](double x, double y) { return std::pow(x, y); }); });
}

// ---- pointwise unary ----
void add_unary_entries(std::vector<OpEntry>& db) {
  add_entry(db, OpId::neg, unary_samples, unary_ref([](double x) { return -x; }));
  add_entry(db, OpId::abs, unary_samples, unary_ref([](double x) { return std::fabs(x); }));
  add_entry(db, OpId::sgn, unary_samples, unary_ref(sgn_ref));
  add_entry(db, OpId::sign, unary_samples, unary_ref(sgn_ref));
  add_entry(db, OpId::exp, unary_samples, unary_ref([](double x) { return std::exp(x); }));
  add_entry(db, OpId::log, positive_samples, unary_ref([](double x) { return std::log(x); }));
  add_entry(db, OpId::sin, unary_samples, unary_ref([](double x) { return std::sin(x); }));
  add_entry(db, OpId::cos, unary_samples, unary_ref([](double x) { return std::cos(x); }));
  add_entry(db, OpId::tanh, unary_samples, unary_ref([](double x) { return std::tanh(x); }));
  add_entry(db, OpId::sigmoid, unary_samples, unary_ref([](double x) { return 1 / (1 + std::exp(-x)); }));
  add_entry(db, OpId::sqrt, positive_samples, unary_ref([](double x) { return std::sqrt(x); }));
  add_entry(db, OpId::rsqrt, positive_samples, unary_ref([](double x) { return 1 / std::sqrt(x); }));
  add_entry(db, OpId::erf, unary_samples, unary_ref([](double x) { return std::erf(x); }));
  add_entry(db, OpId::reciprocal, positive_samples, unary_ref([](double x) { return 1 / x; }));
  add_entry(db, OpId::relu, unary_samples, unary_ref([](double x) { return x > 0 ? x : 0; }));
}

// One process: the collectives are the identity (tests/e2e/parallel_test.sh runs them
// across ranks).
void add_collective_entries(std::vector<OpEntry>& db) {
  add_entry(
      db, OpId::c10d_all_reduce,
      [] {
        return std::vector<Sample>{{"avg", {R({3, 4}), std::string("avg"), std::string("0")}}};
      },
      [](const Args& a) { return clone(a[0].to_tensor()); })
      ->errors = {{{R({3}), std::string("max"), std::string("0")}, {"all_reduce", "reduce_op 'max'"}},
                  {{R({3}), std::string("sum"), std::string("7")}, {"all_reduce", "group", "'7'"}}};
  add_entry(
      db, OpId::c10d_all_gather_into_tensor,
      [] {
        return std::vector<Sample>{{"world 1", {R({3, 4}), int64_t{1}, std::string("0")}}};
      },
      [](const Args& a) { return clone(a[0].to_tensor()); })
      ->errors = {{{R({3}), int64_t{1}, std::string("7")}, {"all_gather_into_tensor", "group", "'7'"}},
                  {{R({3}), int64_t{2}, std::string("0")}, {"exported for 2 rank(s)", "this job has 1"}}};
  add_entry(
      db, OpId::c10d_reduce_scatter_tensor,
      [] {
        return std::vector<Sample>{{"world 1", {R({4, 3}), std::string("avg"), int64_t{1}, std::string("0")}}};
      },
      [](const Args& a) { return clone(a[0].to_tensor()); })
      ->errors = {{{R({3, 2}), std::string("sum"), int64_t{2}, std::string("0")}, {"dim 0", "group_size 2"}},
                  {{R({4}), std::string("avg"), int64_t{2}, std::string("0")}, {"exported for 2 rank(s)"}},
                  {{R({4}), std::string("max"), int64_t{1}, std::string("0")}, {"reduce_op 'max'"}}};
  add_entry(
      db, OpId::c10d_wait_tensor,
      [] {
        return std::vector<Sample>{{"2d", {R({3, 4})}}};
      },
      [](const Args& a) { return clone(a[0].to_tensor()); });
}

std::vector<OpEntry> build() {
  std::vector<OpEntry> db;
  db.reserve(512);  // entries are adjusted through pointers after they are added
  auto add_entry = [&](OpId op, std::function<std::vector<Sample>()> s,
                       std::function<Tensor(const Args&)> ref = nullptr) {
    return testing::add_entry(db, op, std::move(s), std::move(ref));
  };
  add_unary_entries(db);
  add_entry(OpId::gelu, unary_samples, unary_ref(gelu_ref));
  add_entry(
      OpId::logical_not,
      [] {
        return std::vector<Sample>{{"bool", {B({3, 4})}}};
      },
      unary_ref([](double x) { return x == 0 ? 1.0 : 0.0; }));
  add_entry(
      OpId::threshold_backward,
      [] {
        return std::vector<Sample>{{"2d", {R({3, 4}), R({3, 4}), IValue(0.0)}}};
      },
      [](const Args& a) { return map2_ref(a[0], a[1], [](double g, double x) { return x <= 0 ? 0 : g; }); });
  add_entry(
      OpId::gelu_backward,
      [] {
        return std::vector<Sample>{{"2d", {R({3, 4}), R({3, 4})}}};
      },
      [](const Args& a) {
        return map2_ref(a[0], a[1], [](double g, double x) {
          double h = 1e-6;
          return g * (gelu_ref(x + h) - gelu_ref(x - h)) / (2 * h);
        });
      });
  add_entry(
      OpId::sigmoid_backward,
      [] {
        return std::vector<Sample>{{"2d", {R({3, 4}), R({3, 4})}}};
      },
      [](const Args& a) { return map2_ref(a[0], a[1], [](double g, double y) { return g * y * (1 - y); }); });
  add_entry(
      OpId::tanh_backward,
      [] {
        return std::vector<Sample>{{"2d", {R({3, 4}), R({3, 4})}}};
      },
      [](const Args& a) { return map2_ref(a[0], a[1], [](double g, double y) { return g * (1 - y * y); }); });
  // ---- pointwise binary ----
  add_entry(OpId::add_Tensor, binary_samples,
            [](const Args& a) { return map2_ref(a[0], a[1], [](double x, double y) { return x + y; }); });
  add_entry(OpId::add_Scalar, scalar_samples,
            [](const Args& a) { return map2_ref(a[0], a[1], [](double x, double y) { return x + y; }); });
  add_entry(OpId::sub_Tensor, binary_samples,
            [](const Args& a) { return map2_ref(a[0], a[1], [](double x, double y) { return x - y; }); });
  add_entry(OpId::sub_Scalar, scalar_samples,
            [](const Args& a) { return map2_ref(a[0], a[1], [](double x, double y) { return x - y; }); });
  add_entry(OpId::rsub_Scalar, scalar_samples,
            [](const Args& a) { return map2_ref(a[0], a[1], [](double x, double y) { return y - x; }); });
  add_entry(OpId::mul_Tensor, binary_samples,
            [](const Args& a) { return map2_ref(a[0], a[1], [](double x, double y) { return x * y; }); });
  add_entry(OpId::mul_Scalar, scalar_samples,
            [](const Args& a) { return map2_ref(a[0], a[1], [](double x, double y) { return x * y; }); });
  add_entry(
      OpId::div_Tensor,
      [] {
        return std::vector<Sample>{{"broadcast", {R({3, 4}), P({4})}}, {"non-contiguous", {NC({3, 4}), P({3, 4})}}};
      },
      [](const Args& a) { return map2_ref(a[0], a[1], [](double x, double y) { return x / y; }); });
  add_entry(OpId::div_Scalar, scalar_samples,
            [](const Args& a) { return map2_ref(a[0], a[1], [](double x, double y) { return x / y; }); });
  add_power_entries(db);
  auto tensor_pairs = [] {
    auto v = binary_samples();
    v.pop_back();  // maximum/minimum take no wrapped numbers
    return v;
  };
  add_entry(OpId::maximum, tensor_pairs,
            [](const Args& a) { return map2_ref(a[0], a[1], [](double x, double y) { return std::max(x, y); }); });
  add_entry(OpId::minimum, tensor_pairs,
            [](const Args& a) { return map2_ref(a[0], a[1], [](double x, double y) { return std::min(x, y); }); });
  struct Cmp {
    OpId t, s;
    double (*f)(double, double);
  };
  for (Cmp c : {Cmp{OpId::eq_Tensor, OpId::eq_Scalar, [](double x, double y) { return double(x == y); }},
                Cmp{OpId::ne_Tensor, OpId::ne_Scalar, [](double x, double y) { return double(x != y); }},
                Cmp{OpId::gt_Tensor, OpId::gt_Scalar, [](double x, double y) { return double(x > y); }},
                Cmp{OpId::ge_Tensor, OpId::ge_Scalar, [](double x, double y) { return double(x >= y); }},
                Cmp{OpId::lt_Tensor, OpId::lt_Scalar, [](double x, double y) { return double(x < y); }},
                Cmp{OpId::le_Tensor, OpId::le_Scalar, [](double x, double y) { return double(x <= y); }}}) {
    auto f = c.f;
    add_entry(
        c.t,
        [] {
          return std::vector<Sample>{{"broadcast", {R({3, 4}), R({4})}}};
        },
        [f](const Args& a) { return map2_ref(a[0], a[1], f); });
    add_entry(
        c.s,
        [] {
          return std::vector<Sample>{{"scalar", {R({3, 4}), IValue(0.25)}}};
        },
        [f](const Args& a) { return map2_ref(a[0], a[1], f); });
  }
  add_entry(
      OpId::logical_and,
      [] {
        return std::vector<Sample>{{"bool", {B({3, 4}), B({4})}}};
      },
      [](const Args& a) { return map2_ref(a[0], a[1], [](double x, double y) { return double(x && y); }); });
  add_entry(OpId::where_self, [] {
    return std::vector<Sample>{{"broadcast", {B({3, 4}), R({3, 4}), R({4})}},
                               {"scalar other", {B({3, 4}), R({3, 4}), IValue(0.0)}}};
  });
  add_entry(
      OpId::clamp,
      [] {
        return std::vector<Sample>{{"both", {R({3, 4}), IValue(-0.5), IValue(0.5)}},
                                   {"min only", {NC({3, 4}), IValue(-0.3), None{}}}};
      },
      [](const Args& a) {
        double lo = a[1].is_none() ? -INFINITY : a[1].to_double(), hi = a[2].is_none() ? INFINITY : a[2].to_double();
        return map_ref(a[0].to_tensor(), [lo, hi](double x) { return std::min(std::max(x, lo), hi); });
      });
  add_masked_fill_entry(db);
  // ---- reductions ----
  add_entry(
      OpId::sum,
      [] {
        return std::vector<Sample>{{"2d", {R({3, 4})}}, {"empty", {R({0, 2})}}};
      },
      [](const Args& a) {
        double s = 0;
        for (double v : a[0].to_tensor().to_vector<double>()) s += v;
        return Tensor::scalar<double>(s);
      });
  add_entry(OpId::sum_dim_IntList, [] {
    return std::vector<Sample>{{"dim 0 keepdim", {R({3, 4}), IntList{0}, true}},
                               {"dims 0,2", {R({2, 3, 4}), IntList{0, 2}, false}},
                               {"last dim non-contiguous", {NC({3, 4}), IntList{-1}, false}},
                               {"middle", {R({2, 3, 4}), IntList{1}, false}}};
  });
  add_entry(OpId::mean, [] { return std::vector<Sample>{{"2d", {R({3, 4})}}}; });
  add_entry(OpId::mean_dim, [] {
    return std::vector<Sample>{{"dims 0,2", {R({2, 3, 4}), IntList{0, 2}, false}},
                               {"keepdim", {R({3, 4}), IntList{1}, true}}};
  });
  add_entry(OpId::var_correction, [] {
    return std::vector<Sample>{{"dim 1 unbiased", {R({2, 3, 4}), IntList{1}, None{}, false}},
                               {"all biased", {R({3, 4}), None{}, IValue(int64_t{0}), true}}};
  });
  add_entry(OpId::amax, [] { return std::vector<Sample>{{"last", {R({2, 3, 4}), IntList{-1}, false}}}; });
  add_entry(
      OpId::amin,
      [] {
        return std::vector<Sample>{{"first", {R({2, 3, 4}), IntList{0}, true}}};
      },
      [](const Args& a) {  // min over dim 0 of [2, 3, 4], kept
        std::vector<double> v = a[0].to_tensor().to_vector<double>(), out(12);
        for (int i = 0; i < 12; ++i) out[i] = std::min(v[i], v[12 + i]);
        return Tensor::from_vector<double>(out, {1, 3, 4});
      });
  add_entry(
      OpId::argmax,
      [] {
        return std::vector<Sample>{{"dim 1", {R({3, 4}), IValue(int64_t{1}), false}}};
      },
      [](const Args& a) {
        std::vector<double> v = a[0].to_tensor().to_vector<double>(), out(3);
        for (int r = 0; r < 3; ++r)
          for (int c = 1; c < 4; ++c)
            if (v[r * 4 + c] > v[r * 4 + static_cast<int>(out[r])]) out[r] = c;
        return Tensor::from_vector<double>(out, {3});
      });
  add_entry(OpId::_softmax, [] {
    return std::vector<Sample>{{"last", {R({3, 4}), IValue(int64_t{-1}), false}},
                               {"middle", {R({2, 3, 4}), IValue(int64_t{1}), false}}};
  });
  add_entry(OpId::_log_softmax, [] {
    return std::vector<Sample>{{"last", {R({3, 4}), IValue(int64_t{1}), false}},
                               {"first", {NC({3, 4}), IValue(int64_t{0}), false}}};
  });
  add_entry(OpId::_softmax_backward_data, [] {
    return std::vector<Sample>{{"last", {R({3, 4}), _softmax(R({3, 4}), 1), IValue(int64_t{1}), DType::Float64}}};
  });
  add_entry(OpId::_log_softmax_backward_data, [] {
    return std::vector<Sample>{{"last", {R({3, 4}), _log_softmax(R({3, 4}), 1), IValue(int64_t{1}), DType::Float64}}};
  });
  add_entry(OpId::softmax_int, [] { return std::vector<Sample>{{"last", {R({3, 4}), IValue(int64_t{-1})}}}; });
  add_entry(OpId::log_softmax_int, [] { return std::vector<Sample>{{"last", {R({3, 4}), IValue(int64_t{-1})}}}; });
  // ---- views ----
  add_entry(OpId::view, [] {
    return std::vector<Sample>{{"merge", {R({2, 3, 4}), IntList{6, -1}}},
                               {"split", {R({6}), IntList{2, 3}}},
                               {"0-d to 1", {R({}), IntList{1}}}};
  });
  add_entry(OpId::_unsafe_view, [] { return std::vector<Sample>{{"merge", {R({2, 3, 4}), IntList{6, 4}}}}; });
  add_entry(OpId::t, [] { return std::vector<Sample>{{"2d", {R({3, 4})}}, {"1d", {R({3})}}}; });
  add_entry(OpId::transpose_int, [] {
    return std::vector<Sample>{{"3d", {R({2, 3, 4}), IValue(int64_t{0}), IValue(int64_t{2})}}};
  });
  add_entry(OpId::permute, [] { return std::vector<Sample>{{"3d", {R({2, 3, 4}), IntList{2, 0, 1}}}}; });
  add_entry(OpId::expand, [] {
    return std::vector<Sample>{{"new dim", {R({3, 1}), IntList{2, 3, 4}}}, {"keep -1", {R({1, 4}), IntList{3, -1}}}};
  });
  add_entry(OpId::unsqueeze, [] {
    return std::vector<Sample>{{"middle", {R({3, 4}), IValue(int64_t{1})}}, {"end", {R({3}), IValue(int64_t{-1})}}};
  });
  add_entry(OpId::squeeze_dim, [] { return std::vector<Sample>{{"size 1", {R({3, 1, 4}), IValue(int64_t{1})}}}; });
  add_entry(OpId::squeeze, [] { return std::vector<Sample>{{"all", {R({1, 3, 1, 4})}}}; });
  add_entry(OpId::slice_Tensor, [] {
    return std::vector<Sample>{
        {"step 2", {R({5, 3}), IValue(int64_t{0}), IValue(int64_t{1}), IValue(int64_t{5}), IValue(int64_t{2})}},
        {"negative end", {R({3, 4}), IValue(int64_t{1}), None{}, IValue(int64_t{-1}), IValue(int64_t{1})}}};
  });
  add_entry(OpId::select_int, [] {
    return std::vector<Sample>{{"negative", {R({3, 4}), IValue(int64_t{1}), IValue(int64_t{-2})}}};
  });
  add_entry(OpId::as_strided, [] {
    return std::vector<Sample>{{"window", {R({12}), IntList{3, 2}, IntList{3, 1}, IValue(int64_t{1})}}};
  });
  add_collective_entries(db);
  for (OpId id : {OpId::alias, OpId::detach}) add_entry(id, [] { return std::vector<Sample>{{"nc", {NC({3, 4})}}}; });
  add_entry(OpId::split_Tensor, [] {
    return std::vector<Sample>{{"uneven", {R({5, 3}), IValue(int64_t{2}), IValue(int64_t{0})}}};
  });
  add_entry(OpId::split_with_sizes, [] {
    return std::vector<Sample>{{"sizes", {R({3, 5}), IntList{1, 4}, IValue(int64_t{1})}}};
  });
  add_entry(OpId::reshape, [] {
    return std::vector<Sample>{{"view", {R({2, 6}), IntList{3, 4}}}, {"copy", {NC({3, 4}), IntList{12}}}};
  });
  add_entry(OpId::narrow, [] {
    return std::vector<Sample>{{"dim 1", {R({3, 5}), IValue(int64_t{1}), IValue(int64_t{1}), IValue(int64_t{3})}}};
  });
  add_entry(OpId::chunk, [] {
    return std::vector<Sample>{{"3 chunks", {R({2, 7}), IValue(int64_t{3}), IValue(int64_t{1})}}};
  });
  add_entry(OpId::flatten_using_ints, [] {
    return std::vector<Sample>{{"middle", {R({2, 3, 4}), IValue(int64_t{1}), IValue(int64_t{-1})}}};
  });
  add_entry(OpId::contiguous, [] { return std::vector<Sample>{{"transposed", {NC({3, 4})}}}; });
  // ---- copies, joins, factories ----
  add_entry(OpId::clone, [] { return std::vector<Sample>{{"non-contiguous", {NC({3, 4})}}}; });
  // Finite differences through a float32 round trip are only good to ~1e-2 relative.
  add_entry(OpId::_to_copy, [] {
    return std::vector<Sample>{{"to f32", {R({3, 4}), DType::Float32}}, {"same", {R({2})}}};
  })->grad_rtol = 5e-2;
  add_entry(OpId::cat, [] {
    return std::vector<Sample>{{"dim 1", {TensorList{R({2, 3}), NC({2, 2})}, IValue(int64_t{1})}},
                               {"with empty", {TensorList{R({0}), R({2, 3}), R({1, 3})}, IValue(int64_t{0})}}};
  });
  add_entry(OpId::stack, [] {
    return std::vector<Sample>{{"dim 1", {TensorList{R({2, 3}), R({2, 3})}, IValue(int64_t{1})}}};
  });
  add_entry(OpId::slice_backward, [] {
    return std::vector<Sample>{
        {"step 2",
         {R({2, 3}), IntList{5, 3}, IValue(int64_t{0}), IValue(int64_t{1}), IValue(int64_t{5}), IValue(int64_t{2})}}};
  });
  add_entry(OpId::select_backward, [] {
    return std::vector<Sample>{{"dim 1", {R({3}), IntList{3, 4}, IValue(int64_t{1}), IValue(int64_t{2})}}};
  });
  add_entry(OpId::new_zeros, [] { return std::vector<Sample>{{"shape", {R({2}), IntList{3, 4}}}}; });
  add_entry(OpId::new_empty, [] { return std::vector<Sample>{{"shape", {R({2}), IntList{3, 4}}}}; });
  add_entry(OpId::zeros_like, [] { return std::vector<Sample>{{"2d", {R({3, 4})}}}; });
  add_entry(OpId::ones_like, [] { return std::vector<Sample>{{"2d", {R({3, 4})}}}; });
  add_entry(OpId::full, [] { return std::vector<Sample>{{"float", {IntList{2, 3}, IValue(1.5), DType::Float64}}}; });
  add_entry(OpId::scalar_tensor, [] { return std::vector<Sample>{{"float", {IValue(2.5), DType::Float64}}}; });
  add_entry(
      OpId::triu,
      [] {
        return std::vector<Sample>{{"diag 1", {R({2, 4, 4}), IValue(int64_t{1})}}};
      },
      [](const Args& a) {
        std::vector<double> v = a[0].to_tensor().to_vector<double>();
        for (int m = 0; m < 2; ++m)
          for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j)
              if (j - i < a[1].to_int()) v[(m * 4 + i) * 4 + j] = 0;
        return Tensor::from_vector<double>(v, {2, 4, 4});
      });
  add_entry(OpId::copy, [] {
    return std::vector<Sample>{{"non-contiguous src", {R({3, 4}), NC({3, 4})}}, {"broadcast", {R({3, 4}), R({4})}}};
  });
  add_entry(OpId::fill_Scalar, [] { return std::vector<Sample>{{"2d", {R({3, 4}), IValue(2.0)}}}; });
  add_entry(OpId::as_strided_scatter, [] {
    return std::vector<Sample>{{"window", {R({4, 3}), R({2, 2}), IntList{2, 2}, IntList{3, 1}, IValue(int64_t{4})}},
                               {"strided rows", {R({5, 3}), R({2, 3}), IntList{2, 3}, IntList{6, 1}, None{}}}};
  });
  add_entry(OpId::zero, [] { return std::vector<Sample>{{"2d", {R({3, 4})}}}; });
  // In-place ops: the reference is the value self holds afterwards.
  add_entry(
      OpId::copy_,
      [] {
        return std::vector<Sample>{{"broadcast", {R({3, 4}), R({4})}}};
      },
      [](const Args& a) { return map2_ref(a[0], a[1], [](double, double y) { return y; }); });
  add_entry(
      OpId::add__Tensor,
      [] {
        return std::vector<Sample>{{"broadcast", {R({3, 4}), R({4})}}};
      },
      [](const Args& a) { return map2_ref(a[0], a[1], [](double x, double y) { return x + y; }); });
  add_entry(
      OpId::mul__Tensor,
      [] {
        return std::vector<Sample>{{"broadcast", {R({3, 4}), R({4})}}};
      },
      [](const Args& a) { return map2_ref(a[0], a[1], [](double x, double y) { return x * y; }); });
  add_entry(
      OpId::fill__Scalar,
      [] {
        return std::vector<Sample>{{"2d", {R({3, 4}), IValue(2.0)}}};
      },
      [](const Args& a) { return map_ref(a[0].to_tensor(), [](double) { return 2.0; }); });
  add_entry(
      OpId::zero_,
      [] {
        return std::vector<Sample>{{"2d", {R({3, 4})}}};
      },
      [](const Args& a) { return map_ref(a[0].to_tensor(), [](double) { return 0.0; }); });
  add_entry(OpId::index_put_, [] {
    return std::vector<Sample>{{"rows", {R({5, 3}), TensorList{ints({2, 0, 3})}, R({3, 3}), false}}};
  });
  // ---- matrix multiply ----
  auto mm_entry = add_entry(
      OpId::mm,
      [] {
        return std::vector<Sample>{{"plain", {R({3, 4}), R({4, 5})}},
                                   {"transposed", {NC({3, 4}), NC({4, 2})}},
                                   {"empty k", {R({3, 0}), R({0, 2})}}};
      },
      [](const Args& a) { return mm_ref(a[0].to_tensor(), a[1].to_tensor()); });
  mm_entry->errors.push_back(
      {{Tensor::zeros({64, 128}), Tensor::zeros({64, 10})}, {"mm", "mat2", "128 rows", "[64, 128]", "[64, 10]"}});
  add_entry(
      OpId::addmm,
      [] {
        return std::vector<Sample>{{"bias row", {R({5}), R({3, 4}), R({4, 5})}},
                                   {"transposed", {R({3, 2}), R({3, 4}), NC({4, 2})}}};
      },
      [](const Args& a) { return add(mm_ref(a[1].to_tensor(), a[2].to_tensor()), a[0].to_tensor()); });
  add_entry(
      OpId::bmm,
      [] {
        return std::vector<Sample>{{"batch", {R({2, 3, 4}), R({2, 4, 5})}}};
      },
      [](const Args& a) {
        std::vector<double> out;
        for (int64_t b = 0; b < 2; ++b) {
          Tensor m = mm_ref(select(a[0].to_tensor(), 0, b), select(a[1].to_tensor(), 0, b));
          for (double v : m.to_vector<double>()) out.push_back(v);
        }
        return Tensor::from_vector<double>(out, {2, 3, 5});
      });
  add_entry(OpId::matmul, [] {
    return std::vector<Sample>{{"3d@2d", {R({2, 3, 4}), R({4, 5})}},
                               {"batched broadcast", {R({2, 3, 4}), R({1, 4, 2})}},
                               {"vector", {R({4}), R({4, 3})}}};
  });
  add_entry(OpId::linear, [] {
    return std::vector<Sample>{{"2d", {R({3, 4}), R({5, 4}), R({5})}},
                               {"3d", {R({2, 3, 4}), R({5, 4}), R({5})}},
                               {"no bias", {R({3, 4}), R({5, 4}), None{}}}};
  });
  add_conv_entries(db);
  // ---- normalisation ----
  auto bn = add_entry(OpId::_native_batch_norm_legit_functional, [] {
    return std::vector<Sample>{{"train 4d", {R({3, 2, 3, 3}), P({2}), R({2}), R({2}), P({2}), true, 0.1, 1e-5}},
                               {"eval", {R({4, 3}), P({3}), R({3}), R({3}), P({3}), false, 0.1, 1e-5}}};
  });
  bn->no_grad_args = {3, 4};
  auto bn_eval = add_entry(OpId::_native_batch_norm_legit_no_training, [] {
    return std::vector<Sample>{{"4d", {R({2, 3, 2, 2}), P({3}), R({3}), R({3}), P({3}), 0.1, 1e-5}}};
  });
  bn_eval->no_grad_args = {3, 4};
  add_entry(OpId::native_batch_norm_backward, [] {
    return std::vector<Sample>{
        {"train",
         {R({3, 2, 2}), R({3, 2, 2}), P({2}), R({2}), P({2}), R({2}), P({2}), true, 1e-5, BoolList{true, true, true}}}};
  });
  add_entry(OpId::native_layer_norm, [] {
    return std::vector<Sample>{{"last dim", {R({2, 3, 4}), IntList{4}, P({4}), R({4}), 1e-5}},
                               {"two dims no affine", {R({2, 3, 4}), IntList{3, 4}, None{}, None{}, 1e-5}}};
  });
  add_entry(OpId::native_layer_norm_backward, [] {
    auto [y, m, r] = native_layer_norm(R({2, 4}), {4}, Tensor(), Tensor(), 1e-5);
    (void)y;
    return std::vector<Sample>{
        {"2d", {R({2, 4}), R({2, 4}), IntList{4}, m, r, P({4}), R({4}), BoolList{true, true, true}}}};
  });
  // ---- pooling ----
  add_entry(OpId::max_pool2d_with_indices, [] {
    return std::vector<Sample>{{"2x2", {R({2, 3, 4, 4}), IntList{2, 2}}},
                               {"3x3 stride 2 pad 1", {R({1, 2, 5, 5}), IntList{3, 3}, IntList{2, 2}, IntList{1, 1}}}};
  });
  add_entry(OpId::max_pool2d_with_indices_backward, [] {
    auto [y, idx] = max_pool2d_with_indices(R({1, 2, 4, 4}), {2, 2});
    (void)y;
    return std::vector<Sample>{
        {"2x2",
         {R({1, 2, 2, 2}), R({1, 2, 4, 4}), IntList{2, 2}, IntList{2, 2}, IntList{0, 0}, IntList{1, 1}, false, idx}}};
  });
  add_entry(OpId::avg_pool2d, [] {
    return std::vector<Sample>{
        {"2x2", {R({2, 3, 4, 4}), IntList{2, 2}}},
        {"pad exclude", {R({1, 2, 5, 5}), IntList{3, 3}, IntList{2, 2}, IntList{1, 1}, false, false}}};
  });
  add_entry(OpId::avg_pool2d_backward, [] {
    return std::vector<Sample>{
        {"2x2", {R({1, 2, 2, 2}), R({1, 2, 4, 4}), IntList{2, 2}, IntList{2, 2}, IntList{0, 0}, false, true, None{}}}};
  });
  add_entry(OpId::_adaptive_avg_pool2d, [] {
    return std::vector<Sample>{{"to 1", {R({2, 3, 4, 4}), IntList{1, 1}}},
                               {"uneven", {R({1, 2, 5, 7}), IntList{2, 3}}}};
  });
  add_entry(OpId::_adaptive_avg_pool2d_backward, [] {
    return std::vector<Sample>{{"to 2x3", {R({1, 2, 2, 3}), R({1, 2, 5, 7})}}};
  });
  // ---- losses ----
  auto nll = add_entry(OpId::nll_loss_forward, [] {
    return std::vector<Sample>{
        {"mean", {_log_softmax(R({4, 3}), 1), ints({0, 2, 1, 2}), None{}, IValue(int64_t{1}), IValue(int64_t{-100})}},
        {"sum ignore", {R({4, 3}), ints({0, 2, 1, 2}), None{}, IValue(int64_t{2}), IValue(int64_t{2})}},
        {"none weighted", {R({4, 3}), ints({0, 2, 1, 0}), P({3}), IValue(int64_t{0}), IValue(int64_t{-100})}}};
  });
  nll->no_grad_args = {2};  // class weights take no gradient, as in PyTorch
  add_entry(OpId::nll_loss_backward, [] {
    return std::vector<Sample>{{"mean",
                                {R({}), R({4, 3}), ints({0, 2, 1, 2}), None{}, IValue(int64_t{1}),
                                 IValue(int64_t{-100}), Tensor::scalar<double>(4.0)}}};
  });
  add_entry(OpId::mse_loss, [] {
    return std::vector<Sample>{{"mean", {R({3, 4}), R({3, 4})}}, {"none", {R({3, 4}), R({3, 4}), IValue(int64_t{0})}}};
  });
  add_entry(OpId::mse_loss_backward, [] {
    return std::vector<Sample>{{"mean", {R({}), R({3, 4}), R({3, 4}), IValue(int64_t{1})}}};
  });
  add_entry(OpId::cross_entropy_loss, [] { return std::vector<Sample>{{"mean", {R({4, 3}), ints({0, 2, 1, 2})}}}; });
  // ---- indexing ----
  add_entry(OpId::index_Tensor, [] {
    return std::vector<Sample>{{"rows with repeats", {R({5, 3}), TensorList{ints({2, 0, 2})}}},
                               {"second dim", {R({3, 4}), TensorList{Tensor(), ints({3, 1})}}}};
  });
  add_entry(OpId::index_put, [] {
    return std::vector<Sample>{{"rows", {R({5, 3}), TensorList{ints({2, 0, 3})}, R({3, 3}), false}},
                               {"accumulate repeats", {R({4, 2}), TensorList{ints({1, 1})}, R({2, 2}), true}}};
  });
  add_entry(
      OpId::embedding,
      [] {
        return std::vector<Sample>{{"2d ids", {R({6, 3}), I({2, 4}, 0, 6)}}};
      },
      [](const Args& a) {  // row ids[i] of the weight, for every id
        std::vector<double> w = a[0].to_tensor().to_vector<double>(), out;
        for (int64_t id : a[1].to_tensor().to_vector<int64_t>())
          for (int64_t c = 0; c < 3; ++c) out.push_back(w[id * 3 + c]);
        return Tensor::from_vector<double>(out, {2, 4, 3});
      });
  add_entry(OpId::embedding_dense_backward, [] {
    return std::vector<Sample>{
        {"pad 0", {R({2, 4, 3}), I({2, 4}, 0, 6), IValue(int64_t{6}), IValue(int64_t{0}), false}}};
  });
  add_prim_entries(db);
  return db;
}

}  // namespace

const std::vector<OpEntry>& op_database() {
  // Each op's samples come from the shared generator seeded by the op alone, so its
  // values do not depend on which ops' samples were drawn before (or on AOTGRAD_OPS).
  static const std::vector<OpEntry> db = [] {
    std::vector<OpEntry> entries = build();
    for (OpEntry& e : entries)
      e.samples = [draw = e.samples, seed = 1000 + static_cast<uint64_t>(e.op)] {
        gen().seed(seed);
        return draw();
      };
    return entries;
  }();
  return db;
}

std::vector<std::reference_wrapper<const OpEntry>> selected_entries() {
  // AOTGRAD_OPS="mm,addmm,aten::relu.default": only these ops (by base name, dotted
  // or qualified name), as ggml's test-backend-ops -o selects one op.
  const char* env = std::getenv("AOTGRAD_OPS");
  std::vector<std::string> wanted;
  for (std::string rest = env ? env : ""; !rest.empty();) {
    const size_t comma = rest.find(',');
    wanted.push_back(rest.substr(0, comma));
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
  }
  std::vector<std::reference_wrapper<const OpEntry>> out;
  for (const OpEntry& e : op_database()) {
    const ops::OpInfo& op = ops::op_info(e.op);
    bool keep = wanted.empty();
    for (const std::string& w : wanted)
      keep = keep || w == op.schema.name || w == op.qualified_name() || w == op.schema.dotted_name();
    if (keep) out.push_back(std::cref(e));
  }
  return out;
}

const OpEntry* find_entry(ops::OpId op) {
  for (const OpEntry& e : op_database())
    if (e.op == op) return &e;
  return nullptr;
}

}  // namespace aotgrad::testing
