#!/usr/bin/env python3
"""Fits the rational approximation of erf in src/ops/cpu/fast_math.h.

erf(x) = x * P(x^2) / Q(x^2) on [-4, 4] (beyond, erf rounds to +-1 in float), Q(0) = 1,
fitted for relative error by Sanathanan-Koerner iterations (a linear least-squares
problem each, weighted by the last denominator) and then Lawson's reweighting
towards the minimax fit, on Chebyshev points of x in [0, 4]. Plain Python (math.erf
as the reference, Householder QR), no packages.

  tools/math/fit_erf.py 5,5     # numerator degree, denominator degree (in x^2)

prints the fit's largest relative error (in double) and the coefficients, lowest
degree first, for z = x^2.
"""
import math, sys

def householder_lstsq(A, b):
    # Solve min ||A x - b|| by Householder QR; A is a list of rows.
    m, n = len(A), len(A[0])
    A = [row[:] for row in A]; b = b[:]
    for k in range(n):
        norm = math.sqrt(sum(A[i][k] ** 2 for i in range(k, m)))
        if norm == 0: continue
        alpha = -norm if A[k][k] > 0 else norm
        v = [0.0] * m
        v[k] = A[k][k] - alpha
        for i in range(k + 1, m): v[i] = A[i][k]
        vv = sum(v[i] ** 2 for i in range(k, m))
        if vv == 0: continue
        for j in range(k, n):
            s = sum(v[i] * A[i][j] for i in range(k, m)) * 2 / vv
            for i in range(k, m): A[i][j] -= s * v[i]
        s = sum(v[i] * b[i] for i in range(k, m)) * 2 / vv
        for i in range(k, m): b[i] -= s * v[i]
    x = [0.0] * n
    for k in range(n - 1, -1, -1):
        x[k] = (b[k] - sum(A[k][j] * x[j] for j in range(k + 1, n))) / A[k][k]
    return x

def fit(m, n, X=4.0, points=1500, iters=30):
    xs = [X * (1 - math.cos(math.pi * (i + 0.5) / points)) / 2 for i in range(points)]  # dense near 0 and X
    us = [(x / X) ** 2 for x in xs]
    gs = [math.erf(x) / x if x > 0 else 2 / math.sqrt(math.pi) for x in xs]
    qprev = [1.0] * points
    w = [1.0] * points
    best = None
    for it in range(iters):
        A, b = [], []
        for u, g, qp, wi in zip(us, gs, qprev, w):
            s = wi / (g * qp)
            row = [s * u ** k for k in range(m + 1)] + [-s * g * u ** k for k in range(1, n + 1)]
            A.append(row); b.append(s * g)
        c = householder_lstsq(A, b)
        p, q = c[:m + 1], [1.0] + c[m + 1:]
        P = lambda u: sum(pk * u ** k for k, pk in enumerate(p))
        Q = lambda u: sum(qk * u ** k for k, qk in enumerate(q))
        errs = [P(u) / Q(u) / g - 1 for u, g in zip(us, gs)]
        emax = max(abs(e) for e in errs)
        if best is None or emax < best[0]: best = (emax, p[:], q[:])
        qprev = [Q(u) for u in us]
        if it >= 5:  # Lawson reweighting towards minimax
            w = [wi * (abs(e) / emax) ** 0.5 + 1e-12 for wi, e in zip(w, errs)]
            sw = sum(w) / len(w); w = [wi / sw for wi in w]
    emax, p, q = best
    # back to z = x^2: u = z / X^2
    s = X * X
    pz = [pk / s ** k for k, pk in enumerate(p)]
    qz = [qk / s ** k for k, qk in enumerate(q)]
    return emax, pz, qz

if __name__ == "__main__":
    for m, n in [(int(a), int(b)) for a, b in (arg.split(',') for arg in sys.argv[1:])]:
        e, p, q = fit(m, n)
        print(f"P deg {m} Q deg {n}: max relative error {e:.3e}")
        print("  P:", ", ".join(f"{v:.9e}" for v in p))
        print("  Q:", ", ".join(f"{v:.9e}" for v in q))
