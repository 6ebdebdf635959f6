#!/usr/bin/python3
"""Writes tests/data/onnx/digits_mlp.onnx: a digits classifier exported by PyTorch,
and digits_mlp_plain.onnx: the same without the batch norm (its training is
equivalent across data-parallel ranks, which per-rank batch statistics are not).

Run with Debian's python3-torch (1.13): /usr/bin/python3 tools/onnx/make_digits_onnx.py
The model is Linear(64, 64) -> BatchNorm1d -> ReLU -> Linear(64, 10), seeded, in
train mode (BatchNormalization with training_mode=1), opset 14, the batch dimension
symbolic ("batch"), so `aotgrad train --onnx` needs --input-shape input_0=B,64.
Initializers keep their FQNs. The file is deterministic: running again gives the
same bytes.
"""
import os
import sys

import torch
from torch import nn

DIR = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "onnx")


def write(name, batch_norm):
    out = os.path.join(DIR, name)
    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("fc1", nn.Linear(64, 64))
    if batch_norm:
        model.add_module("bn", nn.BatchNorm1d(64))
    model.add_module("relu", nn.ReLU())
    model.add_module("fc2", nn.Linear(64, 10))
    model.train()
    x = torch.randn(64, 64)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    os.makedirs(DIR, exist_ok=True)
    torch.onnx.export(model, (x,), out, opset_version=14, training=torch.onnx.TrainingMode.TRAINING,
                      do_constant_folding=False, export_params=True, input_names=["input_0"],
                      output_names=["output_0"], dynamic_axes={"input_0": {0: "batch"}, "output_0": {0: "batch"}})
    # The export ran one forward, which moved the running statistics; the module is unchanged otherwise.
    for k, v in model.state_dict().items():
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(v, state[k]), k
    # (The running statistics in the file are those after that one forward on x.)
    print("wrote", os.path.normpath(out), file=sys.stderr)


def main():
    write("digits_mlp.onnx", batch_norm=True)
    write("digits_mlp_plain.onnx", batch_norm=False)


if __name__ == "__main__":
    main()
