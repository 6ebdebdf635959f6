#!/usr/bin/env python3
"""Writes tests/data/special_values.json: what PyTorch computes for NaN, +-Inf, +-0 and
ordinary values, op by op, so aotgrad's kernels can be checked against it.

Run with Debian's python3-torch (1.13): `python3 tools/oracles/special_values.py`.
Each case names an aten overload, its arguments (tensors as value lists with a dtype
and shape, scalars, strings, int lists) and PyTorch's results.
"""
import json
import math
import os

import torch

nan, inf = float("nan"), float("inf")
X = [nan, inf, -inf, 0.0, -0.0, 1.0, -1.0, 3.5, -3.5, 1e-30, 88.0, -88.0]
# Pairs for binary ops: every special value against every other one.
SPECIAL = [nan, inf, -inf, 0.0, 1.0, -2.5]
PX = [a for a in SPECIAL for _ in SPECIAL]
PY = [b for _ in SPECIAL for b in SPECIAL]


def enc(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def tensor_json(t):
    return {"tensor": [enc(v) for v in t.flatten().tolist()], "dtype": str(t.dtype).replace("torch.", ""),
            "shape": list(t.shape)}


def arg_json(a):
    if isinstance(a, torch.Tensor):
        return tensor_json(a)
    if isinstance(a, float):
        return {"float": enc(a)}
    if isinstance(a, (list, tuple)):
        return {"ints": list(a)}
    if a is None:
        return None
    return a  # int, bool, str


cases = []


def case(op, *args, compare=None, **kwargs):
    """`op` is an aten overload; kwargs are its keyword-only arguments, in schema order.
    `compare` lists the outputs to check (all by default)."""
    out = op(*args, **kwargs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    cases.append({
        "compare": compare if compare is not None else list(range(len(outs))),
        "op": op._schema.name.replace("aten::", "") + ("." + op._overloadname if op._overloadname != "default" else ""),
        "args": [arg_json(a) for a in args],
        "kwargs": [[k, arg_json(v)] for k, v in kwargs.items()],
        "outputs": [tensor_json(o) for o in outs],
    })


aten = torch.ops.aten
for dtype in (torch.float32, torch.float64):
    x = torch.tensor(X, dtype=dtype)
    px, py = torch.tensor(PX, dtype=dtype), torch.tensor(PY, dtype=dtype)
    for op in (aten.neg.default, aten.abs.default, aten.sgn.default, aten.sign.default, aten.exp.default,
               aten.log.default, aten.sin.default, aten.cos.default, aten.tanh.default, aten.sigmoid.default,
               aten.sqrt.default, aten.rsqrt.default, aten.erf.default, aten.reciprocal.default, aten.relu.default,
               aten.logical_not.default, aten.clone.default):
        case(op, x)
    case(aten.gelu.default, x)
    case(aten.gelu.default, x, approximate="tanh")
    for op in (aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor, aten.maximum.default,
               aten.minimum.default, aten.eq.Tensor, aten.ne.Tensor, aten.gt.Tensor, aten.ge.Tensor, aten.lt.Tensor,
               aten.le.Tensor, aten.logical_and.default):
        case(op, px, py)
    case(aten.add.Tensor, px, py, alpha=2)
    for e in (2.0, 3.0, 0.5, -1.0):
        case(aten.pow.Tensor_Scalar, x, e)
    case(aten.clamp.default, x, -1.0, 1.0)
    case(aten.clamp.default, x, 0.0)
    case(aten.where.self, x > 0, x, torch.zeros_like(x))
    case(aten.masked_fill.Scalar, x, x.isnan(), 7.0)
    case(aten.threshold_backward.default, torch.ones_like(x), x, 0.0)
    case(aten.gelu_backward.default, torch.ones_like(x), x)
    case(aten.sigmoid_backward.default, torch.ones_like(x), torch.sigmoid(x))
    case(aten.tanh_backward.default, torch.ones_like(x), torch.tanh(x))
    # Reductions over rows that hold a NaN, an Inf, both infinities, and ordinary values.
    rows = torch.tensor([[1.0, nan, 2.0, -1.0], [1.0, inf, 2.0, -1.0], [inf, -inf, 0.0, 1.0],
                         [-inf, -inf, -inf, -inf], [1.0, 2.0, 3.0, 4.0]], dtype=dtype)
    case(aten.sum.dim_IntList, rows, [1])
    case(aten.mean.dim, rows, [1])
    case(aten.amax.default, rows, [1])
    case(aten.amin.default, rows, [1])
    case(aten.argmax.default, rows, 1)
    case(aten.var.correction, rows, [1], correction=1)
    case(aten._softmax.default, rows, 1, False)
    case(aten._log_softmax.default, rows, 1, False)
    case(aten.mm.default, rows, torch.ones(4, 2, dtype=dtype))
    case(aten.mse_loss.default, rows, torch.zeros_like(rows), 0)
    # The saved mean of a row holding an infinity depends on the order of PyTorch's
    # Welford updates ([1, inf] gives inf, [inf, 1] NaN); only the normalised output,
    # NaN either way, is compared for those rows.
    case(aten.native_layer_norm.default, rows, [4], None, None, 1e-5, compare=[0])
    case(aten.native_layer_norm.default, rows[[0, 4]], [4], None, None, 1e-5)
    img = rows[:4].reshape(1, 1, 4, 4)
    case(aten.max_pool2d_with_indices.default, img, [2, 2], [2, 2])
    case(aten.avg_pool2d.default, img, [2, 2], [2, 2])

path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "special_values.json")
with open(path, "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases}, f, indent=None, separators=(",", ":"))
    f.write("\n")
print(f"wrote {len(cases)} cases to {os.path.normpath(path)}")
