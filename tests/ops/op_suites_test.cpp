// The generic op suites, driven by the op database (op_db.cpp): completeness,
// shape rule vs kernel, kernel vs naive reference, decomposition vs kernel, float64
// finite-difference gradient checks, and error inputs.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "aotgrad/autograd.h"
#include "aotgrad/error.h"
#include "aotgrad/ops.h"
#include "aotgrad/random.h"
#include "core/shape.h"
#include "op_db.h"
#include "ops/dispatch.h"

namespace aotgrad::testing {
namespace {

using ops::OpInfo;
using ops::OpKind;

std::string op_label(const OpInfo& op) {
  return op.qualified_name();
}

TEST(OpTable, EveryOpIsComplete) {
  std::vector<std::string> problems;
  for (const OpInfo& op : ops::all_ops()) {
    const std::string n = op_label(op);
    if (op.kind == OpKind::Composite) {
      if (!op.decomposition) problems.push_back(n + ": composite without a decomposition");
    } else {
      if (!op.shape) problems.push_back(n + ": no shape rule");
      if (op.kind != OpKind::View && !op.kernel) problems.push_back(n + ": no CPU kernel");
      if (!op.derivative && !op.not_differentiable)
        problems.push_back(n + ": no derivative and not marked not-differentiable");
    }
    if (!find_entry(op.id)) problems.push_back(n + ": no entry in the op test database");
  }
  EXPECT_TRUE(problems.empty()) << fmt::format("{}", fmt::join(problems, "\n"));
}

// How many checks a suite must have made: its full count over the whole database,
// nothing when AOTGRAD_OPS selects a few ops (one may have no reference, say).
int suite_minimum(int over_all_ops) {
  return std::getenv("AOTGRAD_OPS") == nullptr ? over_all_ops + 1 : 0;
}

// The tags of op_table.def hold on every sample: passes trust them (min-cut recomputes
// Pointwise ops, fusion chains them, the tracer records an InPlace op's functional form).
TEST(OpTable, TagsHoldOnEverySample) {
  std::vector<std::string> problems;
  for (const OpEntry& e : op_database()) {
    const OpInfo& op = ops::op_info(e.op);
    if (op.kind == OpKind::InPlace) {
      const OpInfo& f = ops::op_info(*op.functional);
      if (f.schema.args.size() != op.schema.args.size())
        problems.push_back(op_label(op) + ": its functional form " + op_label(f) + " takes other arguments");
    }
    if (op.kind == OpKind::Composite || !(op.has(ops::OpTag::Pointwise) || op.has(ops::OpTag::Reduction))) continue;
    for (const Sample& s : e.samples()) {
      Args args = s.args;
      ops::normalize_args(op, args);
      Shape broadcast;
      int64_t largest = 0;
      for (const IValue& a : args)
        if (a.is_tensor() && a.to_tensor().defined()) {
          broadcast = broadcast_shapes(broadcast, a.to_tensor().sizes(), "test");
          largest = std::max(largest, a.to_tensor().numel());
        }
      const Tensor out = ops::flatten_outputs(ops::run_shape(op, args))[0];
      if (op.has(ops::OpTag::Pointwise) && out.sizes() != broadcast)
        problems.push_back(fmt::format("{} / {}: tagged Pointwise, but its result {} is not the broadcast shape {}",
                                       op_label(op), s.label, shape_str(out.sizes()), shape_str(broadcast)));
      if (op.has(ops::OpTag::Reduction) && out.numel() > std::max<int64_t>(largest, 1))
        problems.push_back(fmt::format("{} / {}: tagged Reduction, but its result {} is larger than its inputs",
                                       op_label(op), s.label, shape_str(out.sizes())));
    }
  }
  EXPECT_TRUE(problems.empty()) << fmt::format("{}", fmt::join(problems, "\n"));
}

// Casts every floating tensor argument to `dt` (keeping layout where it can).
Args cast_args(const Args& args, DType dt) {
  Args out = args;
  for (IValue& v : out) {
    if (v.is_tensor() && v.to_tensor().is_floating_point()) v = to(v.to_tensor(), dt);
    if (v.is_tensor_list()) {
      TensorList l = v.to_tensor_list();
      for (Tensor& t : l)
        if (t.defined() && t.is_floating_point()) t = to(t, dt);
      v = l;
    }
    if (v.is_dtype() && is_floating(v.to_dtype())) v = dt;
  }
  return out;
}

// Fresh copies of tensor args so in-place samples do not disturb later runs.
Args fresh(const Args& args) {
  Args out = args;
  for (IValue& v : out)
    if (v.is_tensor()) v = clone(v.to_tensor());
  return out;
}

TEST(OpSuites, ShapeRuleMatchesKernel) {
  for (const OpEntry& e : selected_entries()) {
    const OpInfo& op = ops::op_info(e.op);
    if (op.kind == OpKind::Composite) continue;
    for (DType dt : {DType::Float32, DType::Float64}) {
      for (const Sample& s : e.samples()) {
        SCOPED_TRACE(op_label(op) + " / " + s.label + " / " + std::string(dtype_name(dt)));
        Args args = cast_args(s.args, dt);
        ops::normalize_args(op, args);
        Outputs metas = ops::run_shape(op, args);
        Outputs real = ops::run_kernel(op, fresh(args));
        TensorList m = ops::flatten_outputs(metas), r = ops::flatten_outputs(real);
        ASSERT_EQ(m.size(), r.size());
        for (size_t i = 0; i < m.size(); ++i) {
          ASSERT_EQ(m[i].defined(), r[i].defined());
          if (!m[i].defined()) continue;
          EXPECT_EQ(m[i].sizes(), r[i].sizes()) << "output " << i;
          EXPECT_EQ(m[i].dtype(), r[i].dtype()) << "output " << i;
          EXPECT_TRUE(m[i].is_meta());
        }
      }
    }
  }
}

void expect_close(const Tensor& got, const Tensor& want, double rtol, double atol, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(w[i]) && std::isnan(g[i])) continue;
    ASSERT_LE(std::fabs(g[i] - w[i]), atol + rtol * std::fabs(w[i]))
        << what << ": element " << i << " got " << g[i] << " want " << w[i];
  }
}

TEST(OpSuites, KernelMatchesReference) {
  int checked = 0;
  for (const OpEntry& e : selected_entries()) {
    if (!e.reference) continue;
    const OpInfo& op = ops::op_info(e.op);
    for (const Sample& s : e.samples()) {
      SCOPED_TRACE(op_label(op) + " / " + s.label);
      Outputs got = ops::call(e.op, fresh(s.args));
      Args normalized = s.args;
      ops::normalize_args(op, normalized);
      expect_close(ops::flatten_outputs(got)[0], e.reference(normalized), 1e-9, 1e-9, "output");
      ++checked;
    }
  }
  EXPECT_GE(checked, suite_minimum(50));
}

// A lowering (an ATen op written with prims) computes what the op's kernel does.
TEST(OpSuites, DecompositionMatchesKernel) {
  int checked = 0;
  for (const OpEntry& e : selected_entries()) {
    const OpInfo& op = ops::op_info(e.op);
    if (op.kind == OpKind::Composite || op.decomposition == nullptr) continue;
    for (const Sample& s : e.samples()) {
      SCOPED_TRACE(op_label(op) + " / " + s.label);
      Args args = fresh(s.args);
      ops::normalize_args(op, args);
      TensorList want = ops::flatten_outputs(ops::run_kernel(op, args));
      TensorList got;
      try {
        got = ops::flatten_outputs(op.decomposition(args));
      } catch (const Error& err) {
        FAIL() << op_label(op) << " / " << s.label << ": " << err.what();
      }
      ASSERT_EQ(got.size(), want.size());
      for (size_t k = 0; k < want.size(); ++k) {
        if (!want[k].defined() || want[k].numel() == 0) continue;
        ASSERT_TRUE(got[k].defined()) << "output " << k;
        ASSERT_EQ(got[k].sizes(), want[k].sizes()) << "output " << k;
        ASSERT_EQ(got[k].dtype(), want[k].dtype()) << "output " << k;
        expect_close(got[k], want[k], 1e-9, 1e-9, "output " + std::to_string(k));
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, suite_minimum(80));
}

// sum_k <out_k, gout_k> over the differentiable outputs, in double.
double contract(const OpInfo& op, const Outputs& outs, const TensorList& gouts) {
  TensorList flat = ops::flatten_outputs(outs);
  double s = 0;
  for (size_t k = 0; k < gouts.size(); ++k) {
    if (!gouts[k].defined()) continue;
    std::vector<double> a = flat[k].to_vector<double>(), b = gouts[k].to_vector<double>();
    for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  }
  (void)op;
  return s;
}

// A float32 output is rounded to ~6e-8 of its size, which a 1e-6 step would amplify
// to ~6% of the slope; with a 1e-3 step the rounding costs ~1e-4 and central
// differences' truncation (eps^2 times the third derivative) as little.
double finite_difference_step(const TensorList& outputs) {
  const bool float32_output =
      std::any_of(outputs.begin(), outputs.end(), [](const Tensor& t) { return t.dtype() == DType::Float32; });
  return float32_output ? 1e-3 : 1e-6;
}

TEST(OpSuites, GradientsMatchFiniteDifferences) {
  Generator g(99);
  int checked = 0;
  for (const OpEntry& e : selected_entries()) {
    const OpInfo& op = ops::op_info(e.op);
    if (op.not_differentiable || !e.skip_gradcheck.empty()) continue;
    for (const Sample& s : e.samples()) {
      SCOPED_TRACE(op_label(op) + " / " + s.label);
      Args args = s.args;
      ops::normalize_args(op, args);
      TensorList leaves;
      for (size_t i = 0; i < args.size(); ++i) {
        bool excluded = std::find(e.no_grad_args.begin(), e.no_grad_args.end(), i) != e.no_grad_args.end();
        if (args[i].is_tensor() && args[i].to_tensor().is_floating_point() && !excluded) {
          Tensor l = args[i].to_tensor().detach();
          l.set_requires_grad(true);
          leaves.push_back(l);
          args[i] = l;
        } else if (args[i].is_tensor_list()) {
          TensorList lst = args[i].to_tensor_list();
          for (Tensor& t : lst)
            if (t.defined() && t.is_floating_point()) {
              t = t.detach();
              t.set_requires_grad(true);
              leaves.push_back(t);
            }
          args[i] = lst;
        }
      }
      if (leaves.empty()) continue;
      // In-place ops write into a copy of self, so self's leaf keeps its history.
      auto run = [&](const Args& a) {
        Args b = a;
        if (op.kind == OpKind::InPlace) b[0] = clone(b[0].to_tensor());
        return ops::call(e.op, b);
      };
      Outputs outs = run(args);
      TensorList flat = ops::flatten_outputs(outs), outs_d, gouts;
      for (size_t k = 0; k < flat.size(); ++k) {
        bool diff = flat[k].defined() && flat[k].requires_grad() &&
                    (op.differentiable_outputs < 0 || static_cast<int>(k) < op.differentiable_outputs);
        gouts.push_back(diff ? randn(flat[k].sizes(), DType::Float64, &g) : Tensor());
        if (diff) outs_d.push_back(flat[k]);
      }
      TensorList gd;
      for (const Tensor& t : gouts)
        if (t.defined()) gd.push_back(t);
      ASSERT_FALSE(outs_d.empty()) << "no differentiable output";
      TensorList analytic = autograd::grad(outs_d, leaves, gd, true);
      autograd::NoGradGuard no_grad;
      const double eps = finite_difference_step(outs_d);
      for (size_t li = 0; li < leaves.size(); ++li) {
        Tensor& leaf = leaves[li];
        double* base = static_cast<double*>(leaf.raw_data());
        std::vector<double> numeric;
        for_each_offset(leaf.sizes(), leaf.strides(), [&](int64_t off) {
          double keep = base[off];
          base[off] = keep + eps;
          double fp = contract(op, run(args), gouts);
          base[off] = keep - eps;
          double fm = contract(op, run(args), gouts);
          base[off] = keep;
          numeric.push_back((fp - fm) / (2 * eps));
        });
        Tensor want = Tensor::from_vector<double>(numeric, leaf.sizes());
        Tensor got = analytic[li].defined() ? analytic[li] : zeros_like(leaf);
        expect_close(got, want, e.grad_rtol, std::max(e.grad_atol, 1e-5), "gradient of input " + std::to_string(li));
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, suite_minimum(60));
}

TEST(OpSuites, ErrorInputsNameOpArgumentAndShapes) {
  int checked = 0;
  for (const OpEntry& e : selected_entries()) {
    for (const ErrorCase& c : e.errors) {
      try {
        ops::call(e.op, c.args);
        ADD_FAILURE() << op_label(ops::op_info(e.op)) << ": expected an error";
      } catch (const Error& err) {
        for (const std::string& part : c.message_parts)
          EXPECT_NE(std::string(err.what()).find(part), std::string::npos)
              << "'" << part << "' missing from: " << err.what();
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, suite_minimum(0));
}

TEST(OpErrors, MmMessageIsExact) {
  try {
    mm(Tensor::zeros({64, 128}), Tensor::zeros({64, 10}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.message(), "mm: expected mat2 to have 128 rows to match self [64, 128], but got mat2 [64, 10]");
  }
}

TEST(OpErrors, WrongArgumentTypeNamesTheArgument) {
  try {
    ops::call(ops::OpId::addmm, {Tensor::zeros({2}), Tensor::zeros({3, 2}), IValue(int64_t{3})});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mat2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Tensor"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace aotgrad::testing
