// CPU kernels of batch norm and layer norm. Statistics accumulate in double across
// rows; within a row, in vector lanes of the tensor's type (as PyTorch's
// vectorised reductions do), which lets the loops vectorise.
#include <algorithm>
#include <cmath>
#include <vector>

#include "ops/cpu/loops.h"
#include "ops/cpu/thread_scratch.h"
#include "ops/families.h"

namespace aotgrad::ops {

std::pair<int64_t, int64_t> layer_norm_split(const Tensor& x, const IntList& shape, std::string_view op);

namespace {

// sum_i x[i] and sum_i (x[i] - m)^2 over one contiguous row, in simd lanes.
template <typename T>
double row_sum(const T* x, int64_t n) {
  T acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += x[i];
  return acc;
}
template <typename T>
double row_sq_dev(const T* x, int64_t n, T m) {
  T acc = 0;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += (x[i] - m) * (x[i] - m);
  return acc;
}
// sum_i g[i] and sum_i g[i] (x[i] - m) over one contiguous row.
template <typename T>
std::pair<double, double> row_grad_sums(const T* g, const T* x, int64_t n, T m) {
  T sg = 0, sgx = 0;
#pragma omp simd reduction(+ : sg, sgx)
  for (int64_t i = 0; i < n; ++i) {
    sg += g[i];
    sgx += g[i] * (x[i] - m);
  }
  return {sg, sgx};
}

// sum_i g[i] w[i] and sum_i g[i] w[i] (x[i] - m) over one contiguous row.
template <typename T>
std::pair<double, double> row_weighted_grad_sums(const T* g, const T* w, const T* x, int64_t n, T m) {
  T sg = 0, sgx = 0;
#pragma omp simd reduction(+ : sg, sgx)
  for (int64_t i = 0; i < n; ++i) {
    const T gw = g[i] * w[i];
    sg += gw;
    sgx += gw * (x[i] - m);
  }
  return {sg, sgx};
}

// Input viewed as [n, c, inner].
struct BnGeom {
  int64_t n, c, inner;
};
BnGeom bn_geom(const Tensor& x) {
  int64_t inner = 1;
  for (int64_t d = 2; d < x.dim(); ++d) inner *= x.sizes()[d];
  return {x.sizes()[0], x.sizes()[1], inner};
}

template <typename T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}
Tensor cont_opt(const IValue& v, DType dt) {
  Tensor t = v.to_opt_tensor();
  return t.defined() ? cpu::as_contiguous(t, dt) : t;
}

// Rows shorter than this (a 2x2 or 3x3 map's) are walked as whole images.
constexpr int64_t kShortRow = 16;

// y = (x - mean) * invstd * w + b per channel. The scale and shift of each channel are
// found once, and the rows walked in memory order (a division a row to find its
// channel cost more than a 2x2 map's row).
template <typename T>
void bn_apply(const BnGeom& g, const T* x, const double* mean, const double* invstd, const T* w, const T* b, T* y) {
  std::vector<T> scale(static_cast<size_t>(g.c)), shift(static_cast<size_t>(g.c));
  for (int64_t c = 0; c < g.c; ++c) {
    const double sc = invstd[c] * (w ? w[c] : 1);
    scale[static_cast<size_t>(c)] = static_cast<T>(sc);
    shift[static_cast<size_t>(c)] = static_cast<T>((b ? b[c] : 0) - mean[c] * sc);
  }
  const int64_t plane = g.c * g.inner;
  if (g.inner < kShortRow) {
    // Short rows: the scale and shift spread over an image's positions, and each image
    // one vector loop.
    cpu::ThreadScratch<T, 0> scale_at(plane);
    cpu::ThreadScratch<T, 1> shift_at(plane);
    for (int64_t c = 0; c < g.c; ++c) {
      std::fill(scale_at.get() + c * g.inner, scale_at.get() + (c + 1) * g.inner, scale[static_cast<size_t>(c)]);
      std::fill(shift_at.get() + c * g.inner, shift_at.get() + (c + 1) * g.inner, shift[static_cast<size_t>(c)]);
    }
    const T *sc = scale_at.get(), *sh = shift_at.get();
    return parallel_for(g.n, plane, [&](int64_t n0, int64_t n1) {
      for (int64_t n = n0; n < n1; ++n) {
        const T* xn = x + n * plane;
        T* yn = y + n * plane;
#pragma omp simd
        for (int64_t j = 0; j < plane; ++j) yn[j] = xn[j] * sc[j] + sh[j];
      }
    });
  }
  parallel_for(g.n * g.c, g.inner, [&](int64_t s, int64_t e) {
    int64_t c = s % g.c;
    for (int64_t r = s; r < e; ++r) {
      const T *xr = x + r * g.inner, sc = scale[static_cast<size_t>(c)], sh = shift[static_cast<size_t>(c)];
      T* yr = y + r * g.inner;
#pragma omp simd
      for (int64_t i = 0; i < g.inner; ++i) yr[i] = xr[i] * sc + sh;
      if (++c == g.c) c = 0;
    }
  });
}

// The mean and the sum of squared deviations of each channel over images [n0, n1),
// for small maps: the images are summed position by position in double (one vector
// loop over each image), then each channel's positions; the same again for the
// squared deviations from the channel's mean. Summed a row at a time, a 2x2 map's
// rows of 4 floats cost ~5 ns each in loop overhead and dependent adds (8 x 576 x 2 x
// 2: 34 us, for 18 thousand elements); but the sums of an image larger than L1 are
// dearer than the rows' (8 x 16 x 32 x 32: 29 us a row at a time, 60 by position).
template <typename T>
void position_moments(const BnGeom& g, const T* x, int64_t n0, int64_t n1, double* mean, double* m2) {
  const int64_t plane = g.c * g.inner;
  cpu::ThreadScratch<double, 0> sums(plane);
  cpu::ThreadScratch<double, 1> centre(plane);
  double* acc = sums.get();
  std::fill(acc, acc + plane, 0.0);
  for (int64_t n = n0; n < n1; ++n) {
    const T* xn = x + n * plane;
#pragma omp simd
    for (int64_t j = 0; j < plane; ++j) acc[j] += static_cast<double>(xn[j]);
  }
  const double count = static_cast<double>((n1 - n0) * g.inner);
  double* ctr = centre.get();
  for (int64_t c = 0; c < g.c; ++c) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < g.inner; ++i) s += acc[c * g.inner + i];
    mean[c] = s / count;
    std::fill(ctr + c * g.inner, ctr + (c + 1) * g.inner, mean[c]);
  }
  std::fill(acc, acc + plane, 0.0);
  for (int64_t n = n0; n < n1; ++n) {
    const T* xn = x + n * plane;
#pragma omp simd
    for (int64_t j = 0; j < plane; ++j) {
      const double d = static_cast<double>(xn[j]) - ctr[j];
      acc[j] += d * d;
    }
  }
  for (int64_t c = 0; c < g.c; ++c) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < g.inner; ++i) s += acc[c * g.inner + i];
    m2[c] = s;
  }
}

// The same a row at a time, the rows in memory order, summed in vector lanes of T and
// the rows' sums in double: the sums, then the deviations from the (rounded) mean.
template <typename T>
void row_moments(const BnGeom& g, const T* x, int64_t n0, int64_t n1, double* mean, double* m2) {
  std::fill(mean, mean + g.c, 0.0);
  std::fill(m2, m2 + g.c, 0.0);
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t c = 0; c < g.c; ++c) mean[c] += row_sum(x + (n * g.c + c) * g.inner, g.inner);
  const double count = static_cast<double>((n1 - n0) * g.inner);
  for (int64_t c = 0; c < g.c; ++c) mean[c] /= count;
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t c = 0; c < g.c; ++c)
      m2[c] += row_sq_dev(x + (n * g.c + c) * g.inner, g.inner, static_cast<T>(mean[c]));
}

template <typename T>
void image_moments(const BnGeom& g, const T* x, int64_t n0, int64_t n1, double* mean, double* m2) {
  constexpr int64_t kPositionSumsBytes = 32 << 10;  // sums by position while they stay in L1
  if (g.c * g.inner * static_cast<int64_t>(sizeof(double)) <= kPositionSumsBytes)
    return position_moments(g, x, n0, n1, mean, m2);
  row_moments(g, x, n0, n1, mean, m2);
}

// Each channel's batch mean and population variance. Each thread takes its own share
// of the images (Note [Images split over the threads] in conv.cpp: the layer before
// wrote them there), and the shares are joined by Chan et al.'s rule for means and
// sums of squared deviations.
template <typename T>
void bn_moments(const BnGeom& g, const T* x, std::vector<double>& mean, std::vector<double>& var) {
  const int threads = std::max(1, std::min<int>(num_threads(), static_cast<int>(g.n)));
  std::vector<double> means(static_cast<size_t>(threads * g.c)), m2s(static_cast<size_t>(threads * g.c));
  std::vector<int64_t> counts(static_cast<size_t>(threads), 0);
  int team = 1;
  for_each_thread(g.n * g.c * g.inner * 2, [&](int t, int nt) {
    if (t >= threads) return;
    if (t == 0) team = std::min(nt, threads);
    const Share images = thread_share(g.n, t, std::min(nt, threads));
    counts[static_cast<size_t>(t)] = (images.end - images.begin) * g.inner;
    image_moments(g, x, images.begin, images.end, means.data() + t * g.c, m2s.data() + t * g.c);
  });
  for (int64_t c = 0; c < g.c; ++c) {
    double count = static_cast<double>(counts[0]), m = means[static_cast<size_t>(c)], m2 = m2s[static_cast<size_t>(c)];
    for (int t = 1; t < team; ++t) {
      const double nb = static_cast<double>(counts[static_cast<size_t>(t)]);
      if (nb == 0) continue;
      const double mb = means[static_cast<size_t>(t * g.c + c)], delta = mb - m, total = count + nb;
      m += delta * nb / total;
      m2 += m2s[static_cast<size_t>(t * g.c + c)] + delta * delta * count * nb / total;
      count = total;
    }
    mean[static_cast<size_t>(c)] = m;
    var[static_cast<size_t>(c)] = m2 / count;
  }
}

template <typename T>
void bn_train(const Args& a, Outputs& o) {
  Tensor x = cpu::as_contiguous(a[0].to_tensor());
  BnGeom g = bn_geom(x);
  const DType dt = x.dtype();
  Tensor w = cont_opt(a[1], dt), b = cont_opt(a[2], dt);
  Tensor rm = cpu::as_contiguous(a[3].to_tensor()), rv = cpu::as_contiguous(a[4].to_tensor());
  const double momentum = a[6].to_double(), eps = a[7].to_double();
  const T* px = x.data_ptr<T>();
  std::vector<double> mean(g.c), invstd(g.c), var(g.c);
  const double count = static_cast<double>(g.n * g.inner);
  bn_moments<T>(g, px, mean, var);
  for (int64_t c = 0; c < g.c; ++c) invstd[c] = 1.0 / std::sqrt(var[c] + eps);
  bn_apply<T>(g, px, mean.data(), invstd.data(), ptr_or_null<T>(w), ptr_or_null<T>(b), cpu::out0(o).data_ptr<T>());
  T* sm = o[1].to_tensor().data_ptr<T>();
  T* si = o[2].to_tensor().data_ptr<T>();
  const Tensor &nrm = o[3].to_tensor(), &nrv = o[4].to_tensor();
  visit_dtype(nrm.dtype(), [&]<typename R>() {
    const R* prm = rm.data_ptr<R>();
    const R* prv = rv.data_ptr<R>();
    R* qm = nrm.data_ptr<R>();
    R* qv = nrv.data_ptr<R>();
    const double unbias = count > 1 ? count / (count - 1) : 1.0;
    for (int64_t c = 0; c < g.c; ++c) {
      qm[c] = static_cast<R>((1 - momentum) * prm[c] + momentum * mean[c]);
      qv[c] = static_cast<R>((1 - momentum) * prv[c] + momentum * var[c] * unbias);
    }
  });
  for (int64_t c = 0; c < g.c; ++c) {
    sm[c] = static_cast<T>(mean[c]);
    si[c] = static_cast<T>(invstd[c]);
  }
}

template <typename T>
void bn_eval(const Args& a, Outputs& o) {
  Tensor x = cpu::as_contiguous(a[0].to_tensor());
  BnGeom g = bn_geom(x);
  Tensor w = cont_opt(a[1], x.dtype()), b = cont_opt(a[2], x.dtype());
  Tensor rm = cpu::as_contiguous(a[3].to_tensor(), DType::Float64);
  Tensor rv = cpu::as_contiguous(a[4].to_tensor(), DType::Float64);
  const double eps = a[6].to_double();
  std::vector<double> invstd(g.c);
  for (int64_t c = 0; c < g.c; ++c) invstd[c] = 1.0 / std::sqrt(rv.data_ptr<double>()[c] + eps);
  bn_apply<T>(g, x.data_ptr<T>(), rm.data_ptr<double>(), invstd.data(), ptr_or_null<T>(w), ptr_or_null<T>(b),
              cpu::out0(o).data_ptr<T>());
}

template <typename T>
void bn_backward(const Args& a, Outputs& o) {
  Tensor gy = cpu::as_contiguous(a[0].to_tensor()), x = cpu::as_contiguous(a[1].to_tensor());
  BnGeom g = bn_geom(x);
  const DType dt = x.dtype();
  Tensor w = cont_opt(a[2], dt);
  const bool train = a[7].to_bool();
  const double eps = a[8].to_double();
  std::vector<double> mean(g.c), invstd(g.c);
  if (train) {
    Tensor sm = cpu::as_contiguous(a[5].to_tensor(), DType::Float64);
    Tensor si = cpu::as_contiguous(a[6].to_tensor(), DType::Float64);
    for (int64_t c = 0; c < g.c; ++c) {
      mean[c] = sm.data_ptr<double>()[c];
      invstd[c] = si.data_ptr<double>()[c];
    }
  } else {
    Tensor rm = cpu::as_contiguous(a[3].to_tensor(), DType::Float64);
    Tensor rv = cpu::as_contiguous(a[4].to_tensor(), DType::Float64);
    for (int64_t c = 0; c < g.c; ++c) {
      mean[c] = rm.data_ptr<double>()[c];
      invstd[c] = 1.0 / std::sqrt(rv.data_ptr<double>()[c] + eps);
    }
  }
  const T *pg = gy.data_ptr<T>(), *px = x.data_ptr<T>(), *pw = ptr_or_null<T>(w);
  T* gx = o[0].to_opt_tensor().defined() ? o[0].to_tensor().data_ptr<T>() : nullptr;
  T* gw = o[1].to_opt_tensor().defined() ? o[1].to_tensor().data_ptr<T>() : nullptr;
  T* gb = o[2].to_opt_tensor().defined() ? o[2].to_tensor().data_ptr<T>() : nullptr;
  const double count = static_cast<double>(g.n * g.inner);
  parallel_for(g.c, g.n * g.inner * 3, [&](int64_t s, int64_t e) {
    for (int64_t c = s; c < e; ++c) {
      double sum_g = 0, sum_gx = 0;
      for (int64_t n = 0; n < g.n; ++n) {
        const int64_t base = (n * g.c + c) * g.inner;
        auto [sg, sgx] = row_grad_sums(pg + base, px + base, g.inner, static_cast<T>(mean[c]));
        sum_g += sg;
        sum_gx += sgx;
      }
      const double wc = pw ? pw[c] : 1.0;
      if (gw) gw[c] = static_cast<T>(sum_gx * invstd[c]);
      if (gb) gb[c] = static_cast<T>(sum_g);
      if (!gx) continue;
      for (int64_t n = 0; n < g.n; ++n) {
        const int64_t base = (n * g.c + c) * g.inner;
        if (train) {
          const double k = sum_gx * invstd[c] * invstd[c] / count, gm = sum_g / count;
          // gx = (g - gm - (x - mean) k) invstd w, folded into gx = g a + x b + d.
          const T ta = static_cast<T>(invstd[c] * wc), tb = static_cast<T>(-k * invstd[c] * wc);
          const T td = static_cast<T>((-gm + mean[c] * k) * invstd[c] * wc);
#pragma omp simd
          for (int64_t i = 0; i < g.inner; ++i) gx[base + i] = pg[base + i] * ta + px[base + i] * tb + td;
        } else {
          const T ta = static_cast<T>(invstd[c] * wc);
#pragma omp simd
          for (int64_t i = 0; i < g.inner; ++i) gx[base + i] = pg[base + i] * ta;
        }
      }
    }
  });
}

template <typename T>
void ln_forward(const Args& a, Outputs& o) {
  Tensor x = cpu::as_contiguous(a[0].to_tensor());
  // Plain variables, not a structured binding: the lambdas below capture them (clang 14
  // cannot capture bindings).
  const auto split = layer_norm_split(x, a[1].to_int_list(), "layer_norm");
  const int64_t rows = split.first, cols = split.second;
  Tensor w = cont_opt(a[2], x.dtype()), b = cont_opt(a[3], x.dtype());
  const double eps = a[4].to_double();
  const T *px = x.data_ptr<T>(), *pw = ptr_or_null<T>(w), *pb = ptr_or_null<T>(b);
  T* py = cpu::out0(o).data_ptr<T>();
  T* pm = o[1].to_tensor().data_ptr<T>();
  T* pr = o[2].to_tensor().data_ptr<T>();
  // A missing weight or bias as a row of ones or zeros, so the loop below has no
  // branch in it and vectorises (v * 1 + b and v * w + 0 are exactly v + b and v * w).
  std::vector<T> ones(pw ? 0 : static_cast<size_t>(cols), T(1)), zeros(pb ? 0 : static_cast<size_t>(cols), T(0));
  const T* wt = pw ? pw : ones.data();
  const T* bt = pb ? pb : zeros.data();
  parallel_for(rows, cols * 4, [&](int64_t s, int64_t e) {
    for (int64_t r = s; r < e; ++r) {
      const T* xr = px + r * cols;
      const double sum = row_sum(xr, cols);
      const double m = cols ? sum / cols : 0;
      const double sq = row_sq_dev(xr, cols, static_cast<T>(m));
      const double rs = 1.0 / std::sqrt((cols ? sq / cols : 0) + eps);
      pm[r] = static_cast<T>(m);
      pr[r] = static_cast<T>(rs);
      T* yr = py + r * cols;
#pragma omp simd
      for (int64_t i = 0; i < cols; ++i) {
        const T v = static_cast<T>((xr[i] - m) * rs);
        yr[i] = v * wt[i] + bt[i];
      }
    }
  });
}

// Layer norm's weight and bias gradients: column sums over the rows, in vector lanes
// across columns, each column still adding its rows in order, in double; the threads
// take blocks of columns (the same sums on any number of threads).
template <typename T>
void ln_weight_bias_grads(const T* pg, const T* px, const T* pm, const T* pr, int64_t rows, int64_t cols, T* gw,
                          T* gb) {
  std::vector<double> aw(cols, 0), ab(cols, 0);
  double* paw = aw.data();
  double* pab = ab.data();
  parallel_for(cols, rows * 4, [&](int64_t c0, int64_t c1) {
    for (int64_t r = 0; r < rows; ++r) {
      const T* g = pg + r * cols;
      const T* xr = px + r * cols;
      const double m = pm[r], rs = pr[r];
#pragma omp simd
      for (int64_t i = c0; i < c1; ++i) {
        const double gi = g[i];
        paw[i] += gi * (xr[i] - m) * rs;
        pab[i] += gi;
      }
    }
  });
  for (int64_t i = 0; i < cols; ++i) {
    if (gw) gw[i] = static_cast<T>(aw[i]);
    if (gb) gb[i] = static_cast<T>(ab[i]);
  }
}

template <typename T>
void ln_backward(const Args& a, Outputs& o) {
  Tensor gy = cpu::as_contiguous(a[0].to_tensor()), x = cpu::as_contiguous(a[1].to_tensor());
  const auto split = layer_norm_split(x, a[2].to_int_list(), "layer_norm_backward");
  const int64_t rows = split.first, cols = split.second;
  Tensor mean = cpu::as_contiguous(a[3].to_tensor()), rstd = cpu::as_contiguous(a[4].to_tensor());
  Tensor w = cont_opt(a[5], x.dtype());
  const T *pg = gy.data_ptr<T>(), *px = x.data_ptr<T>(), *pm = mean.data_ptr<T>(), *pr = rstd.data_ptr<T>(),
          *pw = ptr_or_null<T>(w);
  T* gx = o[0].to_opt_tensor().defined() ? o[0].to_tensor().data_ptr<T>() : nullptr;
  T* gw = o[1].to_opt_tensor().defined() ? o[1].to_tensor().data_ptr<T>() : nullptr;
  T* gb = o[2].to_opt_tensor().defined() ? o[2].to_tensor().data_ptr<T>() : nullptr;
  // Without a weight, a row of ones: `pw ? pw[i] : 1` in the loops kept them scalar
  // (a load that may not happen cannot be vectorised).
  std::vector<T> ones(pw ? 0 : static_cast<size_t>(cols), T(1));
  const T* wt = pw ? pw : ones.data();
  if (gx) {
    parallel_for(rows, cols * 6, [&](int64_t s, int64_t e) {
      for (int64_t r = s; r < e; ++r) {
        const T *g = pg + r * cols, *xr = px + r * cols;
        const double m = pm[r], rs = pr[r];
        // In vector lanes of T, as the other row sums here: one running double per sum
        // was a chain of dependent adds, most of this kernel's time.
        const auto [s1, sgx] = row_weighted_grad_sums(g, wt, xr, cols, static_cast<T>(m));
        const double s2 = sgx * rs;
        const double mean_g = s1 / cols, mean_gx = s2 / cols;
        T* out = gx + r * cols;
#pragma omp simd
        for (int64_t i = 0; i < cols; ++i) {
          const double gw_i = static_cast<double>(g[i]) * wt[i];
          const double xhat = (xr[i] - m) * rs;
          out[i] = static_cast<T>(rs * (gw_i - mean_g - xhat * mean_gx));
        }
      }
    });
  }
  if (gw || gb) ln_weight_bias_grads(pg, px, pm, pr, rows, cols, gw, gb);
}

}  // namespace

void register_norm_kernels(Registry& r) {
  r.kernel(OpId::_native_batch_norm_legit_functional, [](const Args& a, Outputs& o) {
    const bool training = a[5].to_bool();
    cpu::visit_floating(a[0].to_tensor().dtype(), "batch_norm", [&]<typename T>() {
      if (training) {
        bn_train<T>(a, o);
      } else {
        Args eval{a[0], a[1], a[2], a[3], a[4], a[6], a[7]};
        bn_eval<T>(eval, o);
        // Not training: statistics unchanged, saved values are the running ones.
        cpu::copy_into(o[3].to_tensor(), a[3].to_tensor());
        cpu::copy_into(o[4].to_tensor(), a[4].to_tensor());
        cpu::copy_into(o[1].to_tensor(), a[3].to_tensor());
        Tensor inv = cpu::as_contiguous(a[4].to_tensor(), DType::Float64);
        const double eps = a[7].to_double();
        T* si = o[2].to_tensor().data_ptr<T>();
        const int64_t channels = inv.numel();
        for (int64_t c = 0; c < channels; ++c) si[c] = static_cast<T>(1.0 / std::sqrt(inv.data_ptr<double>()[c] + eps));
      }
    });
  });
  r.kernel(OpId::_native_batch_norm_legit_no_training, [](const Args& a, Outputs& o) {
    cpu::visit_floating(a[0].to_tensor().dtype(), "batch_norm", [&]<typename T>() { bn_eval<T>(a, o); });
  });
  r.kernel(OpId::native_batch_norm_backward, [](const Args& a, Outputs& o) {
    cpu::visit_floating(a[1].to_tensor().dtype(), "batch_norm_backward", [&]<typename T>() { bn_backward<T>(a, o); });
  });
  r.kernel(OpId::native_layer_norm, [](const Args& a, Outputs& o) {
    cpu::visit_floating(a[0].to_tensor().dtype(), "layer_norm", [&]<typename T>() { ln_forward<T>(a, o); });
  });
  r.kernel(OpId::native_layer_norm_backward, [](const Args& a, Outputs& o) {
    cpu::visit_floating(a[1].to_tensor().dtype(), "layer_norm_backward", [&]<typename T>() { ln_backward<T>(a, o); });
  });
}

}  // namespace aotgrad::ops
