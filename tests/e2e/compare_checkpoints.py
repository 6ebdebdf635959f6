#!/usr/bin/env python3
"""compare_checkpoints.py A B RTOL: every entry of two aotgrad checkpoints agrees,
|a - b| <= RTOL * |b| + 1e-7 elementwise (exit 1 naming the worst entry otherwise)."""
import json
import sys

a, b, rtol = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), float(sys.argv[3])
keys_a = [e["key"] for e in a["entries"]]
keys_b = [e["key"] for e in b["entries"]]
if keys_a != keys_b:
    sys.exit(f"the checkpoints hold different entries: {keys_a} vs {keys_b}")
worst = (0.0, "")
for ea, eb in zip(a["entries"], b["entries"]):
    for x, y in zip(ea["data"], eb["data"]):
        excess = abs(x - y) / (rtol * abs(y) + 1e-7)
        if excess > worst[0]:
            worst = (excess, f"{ea['key']}: {x} vs {y}")
if worst[0] > 1:
    sys.exit(f"beyond rtol {rtol}: {worst[1]}")
print(f"agree within rtol {rtol} (worst at {worst[0]:.2f} of the tolerance)")
