#!/usr/bin/env python3
"""Writes tests/golden/resize_cases.txt: torch.nn.functional.interpolate
results that tests/ops/test_resize.cpp compares cuseg against, so that
"exact PyTorch semantics" is checked against code we did not write.

Run from anywhere with torch installed (the committed test does not need
torch):  python3 tests/golden/make_resize_golden.py

Format, one record per line, '#' lines are comments:
  taps IN OUT ALIGN SCALE W...
      bilinear weights along one axis, taken from torch by resizing one-hot
      rows (1 x IN -> 1 x OUT; the H axis is 1 -> 1, a copy), so they are
      torch's float weights bit for bit. Each W is O:J:HEXFLOAT, the weight
      of input J in output O (only the non-zero ones). SCALE 0 means the
      size was given, else scale_factor (a Python float, printed exactly).
  nearest IN OUT SCALE I...
      legacy 'nearest' source index of each output index, from torch.
  case MODE ALIGN N C H_IN W_IN KIND A B
      followed by two lines: the input and torch's output, NHWC, %.9g
      (enough to round-trip float32). MODE is bilinear or nearest; KIND is
      size (A x B = output size) or scale (A, B = scale factors).
"""
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def interp(x, mode, align, size=None, scale=None):
    kw = {} if mode == "nearest" else {"align_corners": bool(align)}
    if size is not None:
        return F.interpolate(x, size=size, mode=mode, **kw)
    return F.interpolate(x, scale_factor=scale, mode=mode, **kw)


def hexf(v):
    return float(np.float32(v)).hex()


def taps_line(n_in, n_out, align, scale):
    eye = torch.eye(n_in, dtype=torch.float32).view(n_in, 1, 1, n_in)
    if scale:
        y = interp(eye, "bilinear", align, scale=(1.0, scale))
    else:
        y = interp(eye, "bilinear", align, size=(1, n_out))
    w = y[:, 0, 0, :].numpy()  # [input j, output o]
    assert w.shape == (n_in, n_out), (w.shape, n_in, n_out, scale)
    items = [f"{o}:{j}:{hexf(w[j, o])}" for o in range(n_out) for j in range(n_in) if w[j, o] != 0]
    return f"taps {n_in} {n_out} {int(align)} {scale!r} " + " ".join(items)


def nearest_line(n_in, n_out, scale):
    x = torch.arange(n_in, dtype=torch.float32).view(1, 1, 1, n_in)
    if scale:
        y = interp(x, "nearest", 0, scale=(1.0, scale))
    else:
        y = interp(x, "nearest", 0, size=(1, n_out))
    idx = [int(v) for v in y[0, 0, 0]]
    assert len(idx) == n_out
    return f"nearest {n_in} {n_out} {scale!r} " + " ".join(map(str, idx))


def fmt(a):
    return " ".join(f"{v:.9g}" for v in a.ravel())


def case_lines(gen, mode, align, n, c, h, w, size=None, scale=None):
    x = torch.rand((n, c, h, w), generator=gen, dtype=torch.float32) * 2 - 1
    y = interp(x, mode, align, size=size, scale=scale)
    kind = f"size {size[0]} {size[1]}" if size else f"scale {scale[0]!r} {scale[1]!r}"
    head = f"case {mode} {int(align)} {n} {c} {h} {w} {kind}"
    nhwc = lambda t: t.permute(0, 2, 3, 1).contiguous().numpy()
    return [head, fmt(nhwc(x)), fmt(nhwc(y))]


def main():
    lines = [f"# made by make_resize_golden.py with torch {torch.__version__}"]
    sizes_in = [1, 2, 3, 5, 7, 13]
    sizes_out = [1, 2, 5, 7, 13, 26]
    # out == in through a scale factor (4 * 1.1 -> 4) takes PyTorch's copy
    # shortcut; 2 -> 7 and friends depend on the fused multiply-add.
    scaled = [(4, 1.1), (2, 1.9), (2, 2.5), (3, 1.5), (10, 0.3), (7, 1.5), (5, 2.1), (9, 0.999),
              (6, 1.01), (13, 0.5)]
    for align in (0, 1):
        for a in sizes_in:
            for b in sizes_out:
                lines.append(taps_line(a, b, align, 0))
        for a, s in scaled:
            lines.append(taps_line(a, math.floor(a * s), align, s))
    for a in sizes_in:
        for b in sizes_out:
            lines.append(nearest_line(a, b, 0))
    for a, s in scaled + [(3, 2.1), (5, 0.51), (6, 3.3)]:
        lines.append(nearest_line(a, math.floor(a * s), s))

    gen = torch.Generator().manual_seed(20240611)
    for align in (0, 1):
        lines += case_lines(gen, "bilinear", align, 2, 3, 7, 13, size=(13, 7))
        lines += case_lines(gen, "bilinear", align, 1, 3, 5, 1, size=(1, 5))
        lines += case_lines(gen, "bilinear", align, 2, 3, 8, 5, size=(16, 10))
        lines += case_lines(gen, "bilinear", align, 1, 2, 7, 5, scale=(1.5, 1.5))
    lines += case_lines(gen, "bilinear", 1, 1, 1, 33, 17, size=(65, 32))
    lines += case_lines(gen, "bilinear", 0, 1, 5, 4, 6, scale=(1.1, 1.5))
    lines += case_lines(gen, "bilinear", 0, 2, 3, 10, 9, scale=(0.3, 0.3))
    lines += case_lines(gen, "bilinear", 0, 1, 1, 2, 3, size=(7, 10))
    lines += case_lines(gen, "nearest", 0, 2, 3, 7, 13, size=(13, 7))
    lines += case_lines(gen, "nearest", 0, 1, 3, 5, 4, scale=(2.1, 0.3))
    lines += case_lines(gen, "nearest", 0, 1, 2, 6, 3, size=(12, 3))
    with open(os.path.join(HERE, "resize_cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
