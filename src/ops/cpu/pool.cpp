// CPU kernels of 2-d pooling. Planes (N*C of them) are split over threads.
#include <algorithm>
#include <limits>
#include <type_traits>
#include <vector>

#include "ops/cpu/loops.h"
#include "ops/cpu/max_pool_avx512.h"
#include "ops/families.h"
#include "ops/shape/pool_params.h"

namespace aotgrad::ops {

namespace {
struct Planes {
  int64_t planes, h, w, oh, ow;
};
Planes planes_of(const Tensor& x, const Tensor& y) {
  const int64_t nd = x.dim();
  return {x.numel() / (x.sizes()[nd - 2] * x.sizes()[nd - 1]), x.sizes()[nd - 2], x.sizes()[nd - 1], y.sizes()[nd - 2],
          y.sizes()[nd - 1]};
}

// Adaptive pooling window [start, end) of output index i.
inline int64_t win_start(int64_t i, int64_t out, int64_t in) {
  return (i * in) / out;
}
inline int64_t win_end(int64_t i, int64_t out, int64_t in) {
  return ((i + 1) * in + out - 1) / out;
}

template <typename T>
void avg_window(const PoolParams& p, bool count_pad, const IValue& divisor, int64_t oy, int64_t ox, int64_t h,
                int64_t w, int64_t* y0, int64_t* y1, int64_t* x0, int64_t* x1, double* div) {
  int64_t hs = oy * p.sh - p.ph, ws = ox * p.sw - p.pw;
  int64_t he = std::min(hs + p.kh, h + p.ph), we = std::min(ws + p.kw, w + p.pw);
  int64_t pool = (he - hs) * (we - ws);
  *y0 = std::max<int64_t>(hs, 0);
  *x0 = std::max<int64_t>(ws, 0);
  *y1 = std::min(he, h);
  *x1 = std::min(we, w);
  if (!divisor.is_none())
    *div = static_cast<double>(divisor.to_int());
  else if (count_pad)
    *div = static_cast<double>(pool);
  else
    *div = static_cast<double>((*y1 - *y0) * (*x1 - *x0));
}

// Note [Pool rows, not windows]: one output row of a max pool, the window positions in
// the outer loops and the outputs in the inner one. Scanning one window at a time
// chains every comparison on the previous one (the running maximum), a few cycles
// each; here the outputs of a row are independent, so the comparisons overlap. The
// positions are visited in the same (ki, kj) order for every output, so the first
// maximum still wins, and NaN still propagates.
// (Locals and __restrict: the outputs are written through pointers the compiler
// would otherwise assume alias the parameters, reloading them every element.)
// For each kernel column kj, the outputs [lo, hi) whose input column
// ix = ox * sw - pw + kj * dw lies inside the row (found once per call, not per row).
struct ColumnRange {
  int64_t shift, lo, hi;
};
std::vector<ColumnRange> column_ranges(const PoolParams& p, const Planes& pl) {
  std::vector<ColumnRange> r;
  for (int64_t kj = 0; kj < p.kw; ++kj) {
    const int64_t shift = kj * p.dw - p.pw;
    const int64_t lo = shift >= 0 ? 0 : (-shift + p.sw - 1) / p.sw;
    const int64_t hi = std::min(pl.ow, pl.w - 1 - shift < 0 ? 0 : (pl.w - 1 - shift) / p.sw + 1);
    r.push_back({shift, lo, hi});
  }
  return r;
}

template <typename T>
void max_pool_row(const PoolParams& p, const Planes& pl, const std::vector<ColumnRange>& columns,
                  const T* __restrict xp, int64_t oy, T* __restrict best, int64_t* __restrict arg) {
  const int64_t ow = pl.ow, w = pl.w, sw = p.sw;
  for (int64_t ox = 0; ox < ow; ++ox) {
    best[ox] = -std::numeric_limits<T>::infinity();
    arg[ox] = -1;
  }
  for (int64_t ki = 0; ki < p.kh; ++ki) {
    const int64_t iy = oy * p.sh - p.ph + ki * p.dh;
    if (iy < 0 || iy >= pl.h) continue;
    const T* __restrict row = xp + iy * w;
    for (const auto [shift, lo, hi] : columns) {
      const int64_t base = iy * w + shift;
      for (int64_t ox = lo; ox < hi; ++ox) {
        const T v = row[ox * sw + shift];
        const T b = best[ox];
        const int64_t a = arg[ox];
        const bool take = v > b || v != v || a < 0;
        best[ox] = take ? v : b;
        arg[ox] = take ? base + ox * sw : a;
      }
    }
  }
}

// max_pool2d_with_indices: planes split over threads; float rows in vectors where the
// CPU has AVX-512 (Note [Vector max pool rows]), 16 planes per vector where rows are
// short (Note [Max pool planes in vectors]), else Note [Pool rows, not windows].
void max_pool_kernel(const Args& a, Outputs& o) {
  PoolParams p = pool_params(a[1], a[2], a[3], &a[4], a[5].to_bool(), "max_pool2d");
  const Tensor& y = o[0].to_tensor();
  Planes pl = planes_of(a[0].to_tensor(), y);
  cpu::visit_floating(y.dtype(), "max_pool2d", [&]<typename T>() {
    Tensor x = cpu::as_contiguous(a[0].to_tensor());
    const T* px = x.data_ptr<T>();
    T* py = y.data_ptr<T>();
    // No indices tensor: nothing reads them (OpTag::LastOutputOptional); values only.
    int64_t* pi = o[1].to_tensor().defined() ? o[1].to_tensor().data_ptr<int64_t>() : nullptr;
    const std::vector<ColumnRange> columns = column_ranges(p, pl);
    parallel_for(pl.planes, pl.oh * pl.ow * p.kh * p.kw, [&](int64_t b, int64_t e) {
      const int64_t in = pl.h * pl.w, out = pl.oh * pl.ow;
      if constexpr (std::is_same_v<T, float>) {  // Note [Max pool planes in vectors], Note [Vector max pool rows]
        const cpu::PlaneSizes sizes{pl.h, pl.w, pl.oh, pl.ow};
        int64_t* indices = pi == nullptr ? nullptr : pi + b * out;
        if (cpu::max_pool_across_planes_avx512(p, sizes, e - b, px + b * in, py + b * out, indices)) return;
        if (cpu::max_pool_planes_avx512(p, sizes, e - b, px + b * in, py + b * out, indices)) return;
      }
      std::vector<int64_t> unread(pi == nullptr ? static_cast<size_t>(pl.ow) : 0);  // indices nobody reads
      for (int64_t q = b; q < e; ++q)
        for (int64_t oy = 0; oy < pl.oh; ++oy)
          max_pool_row(p, pl, columns, px + q * in, oy, py + q * out + oy * pl.ow,
                       pi == nullptr ? unread.data() : pi + q * out + oy * pl.ow);
    });
  });
}
}  // namespace

void register_pool_kernels(Registry& r) {
  r.kernel(OpId::max_pool2d_with_indices, max_pool_kernel);
  r.kernel(OpId::max_pool2d_with_indices_backward, [](const Args& a, Outputs& o) {
    Tensor& gx = cpu::out0(o);
    Tensor gy = cpu::as_contiguous(a[0].to_tensor()), idx = cpu::as_contiguous(a[7].to_tensor());
    Planes pl = planes_of(gx, gy);
    cpu::fill(gx, 0);
    cpu::visit_floating(gx.dtype(), "max_pool2d_backward", [&]<typename T>() {
      const T* pg = gy.data_ptr<T>();
      const int64_t* pi = idx.data_ptr<int64_t>();
      T* px = gx.data_ptr<T>();
      parallel_for(pl.planes, pl.oh * pl.ow, [&](int64_t b, int64_t e) {
        for (int64_t q = b; q < e; ++q)
          for (int64_t i = 0; i < pl.oh * pl.ow; ++i) {
            int64_t at = pi[q * pl.oh * pl.ow + i];
            if (at >= 0) px[q * pl.h * pl.w + at] += pg[q * pl.oh * pl.ow + i];
          }
      });
    });
  });
  r.kernel(OpId::avg_pool2d, [](const Args& a, Outputs& o) {
    PoolParams p = pool_params(a[1], a[2], a[3], nullptr, a[4].to_bool(), "avg_pool2d");
    const bool cip = a[5].to_bool();
    Tensor& y = cpu::out0(o);
    Planes pl = planes_of(a[0].to_tensor(), y);
    cpu::visit_floating(y.dtype(), "avg_pool2d", [&]<typename T>() {
      Tensor x = cpu::as_contiguous(a[0].to_tensor());
      const T* px = x.data_ptr<T>();
      T* py = y.data_ptr<T>();
      parallel_for(pl.planes, pl.oh * pl.ow * p.kh * p.kw, [&](int64_t b, int64_t e) {
        for (int64_t q = b; q < e; ++q)
          for (int64_t oy = 0; oy < pl.oh; ++oy)
            for (int64_t ox = 0; ox < pl.ow; ++ox) {
              int64_t y0, y1, x0, x1;
              double div;
              avg_window<T>(p, cip, a[6], oy, ox, pl.h, pl.w, &y0, &y1, &x0, &x1, &div);
              double s = 0;
              for (int64_t iy = y0; iy < y1; ++iy)
                for (int64_t ix = x0; ix < x1; ++ix) s += px[(q * pl.h + iy) * pl.w + ix];
              py[(q * pl.oh + oy) * pl.ow + ox] = static_cast<T>(s / div);
            }
      });
    });
  });
  r.kernel(OpId::avg_pool2d_backward, [](const Args& a, Outputs& o) {
    PoolParams p = pool_params(a[2], a[3], a[4], nullptr, a[5].to_bool(), "avg_pool2d_backward");
    const bool cip = a[6].to_bool();
    Tensor& gx = cpu::out0(o);
    Tensor gy = cpu::as_contiguous(a[0].to_tensor());
    Planes pl = planes_of(gx, gy);
    cpu::fill(gx, 0);
    cpu::visit_floating(gx.dtype(), "avg_pool2d_backward", [&]<typename T>() {
      const T* pg = gy.data_ptr<T>();
      T* px = gx.data_ptr<T>();
      parallel_for(pl.planes, pl.oh * pl.ow * p.kh * p.kw, [&](int64_t b, int64_t e) {
        for (int64_t q = b; q < e; ++q)
          for (int64_t oy = 0; oy < pl.oh; ++oy)
            for (int64_t ox = 0; ox < pl.ow; ++ox) {
              int64_t y0, y1, x0, x1;
              double div;
              avg_window<T>(p, cip, a[7], oy, ox, pl.h, pl.w, &y0, &y1, &x0, &x1, &div);
              const T g = static_cast<T>(pg[(q * pl.oh + oy) * pl.ow + ox] / div);
              for (int64_t iy = y0; iy < y1; ++iy)
                for (int64_t ix = x0; ix < x1; ++ix) px[(q * pl.h + iy) * pl.w + ix] += g;
            }
      });
    });
  });
  r.kernel(OpId::_adaptive_avg_pool2d, [](const Args& a, Outputs& o) {
    Tensor& y = cpu::out0(o);
    Planes pl = planes_of(a[0].to_tensor(), y);
    cpu::visit_floating(y.dtype(), "adaptive_avg_pool2d", [&]<typename T>() {
      Tensor x = cpu::as_contiguous(a[0].to_tensor());
      const T* px = x.data_ptr<T>();
      T* py = y.data_ptr<T>();
      parallel_for(pl.planes, pl.h * pl.w, [&](int64_t b, int64_t e) {
        for (int64_t q = b; q < e; ++q)
          for (int64_t oy = 0; oy < pl.oh; ++oy)
            for (int64_t ox = 0; ox < pl.ow; ++ox) {
              int64_t y0 = win_start(oy, pl.oh, pl.h), y1 = win_end(oy, pl.oh, pl.h);
              int64_t x0 = win_start(ox, pl.ow, pl.w), x1 = win_end(ox, pl.ow, pl.w);
              double s = 0;
              for (int64_t iy = y0; iy < y1; ++iy)
                for (int64_t ix = x0; ix < x1; ++ix) s += px[(q * pl.h + iy) * pl.w + ix];
              py[(q * pl.oh + oy) * pl.ow + ox] = static_cast<T>(s / ((y1 - y0) * (x1 - x0)));
            }
      });
    });
  });
  r.kernel(OpId::_adaptive_avg_pool2d_backward, [](const Args& a, Outputs& o) {
    Tensor& gx = cpu::out0(o);
    Tensor gy = cpu::as_contiguous(a[0].to_tensor());
    Planes pl = planes_of(gx, gy);
    cpu::fill(gx, 0);
    cpu::visit_floating(gx.dtype(), "adaptive_avg_pool2d_backward", [&]<typename T>() {
      const T* pg = gy.data_ptr<T>();
      T* px = gx.data_ptr<T>();
      for (int64_t q = 0; q < pl.planes; ++q)
        for (int64_t oy = 0; oy < pl.oh; ++oy)
          for (int64_t ox = 0; ox < pl.ow; ++ox) {
            int64_t y0 = win_start(oy, pl.oh, pl.h), y1 = win_end(oy, pl.oh, pl.h);
            int64_t x0 = win_start(ox, pl.ow, pl.w), x1 = win_end(ox, pl.ow, pl.w);
            const T g = static_cast<T>(pg[(q * pl.oh + oy) * pl.ow + ox] / ((y1 - y0) * (x1 - x0)));
            for (int64_t iy = y0; iy < y1; ++iy)
              for (int64_t ix = x0; ix < x1; ++ix) px[(q * pl.h + iy) * pl.w + ix] += g;
          }
    });
  });
}

}  // namespace aotgrad::ops
