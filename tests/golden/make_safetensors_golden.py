#!/usr/bin/env python3
"""Writes the golden safetensors file read by tests/io/test_safetensors.cpp.

Needs the `safetensors` and `torch` Python packages (torch for BF16); CI does
not run this: its outputs are committed.

  st_small.safetensors      tensors written by the reference implementation
  st_small_expected.txt     one line per float tensor:
                            name dtype ndim dims... count values...
                            values printed with %.9g, so they parse back to
                            the exact float32 (F16/BF16 values are exact in F32)
"""
import os

import torch
from safetensors.torch import save_file

here = os.path.dirname(os.path.abspath(__file__))

f16_values = [
    0.0, -0.0, 1.0, -2.5, 65504.0,        # largest finite half
    6.103515625e-05,                      # smallest normal 2^-14
    5.960464477539063e-08,                # smallest subnormal 2^-24
    -3.0517578125e-05,                    # subnormal 2^-15, negative
    float("inf"), float("-inf"), float("nan"), 0.333251953125,
]
tensors = {
    "enc.conv.weight": torch.tensor([[1.5, -2.25, 3.0], [1e-30, -7.125e12, 0.1]], dtype=torch.float32),
    "enc.bn.bias": torch.tensor(f16_values, dtype=torch.float16).reshape(3, 4),
    "dec.head.weight": torch.tensor([1.0, -0.5, 3.140625, 1e30, -1e-20, 0.0], dtype=torch.bfloat16).reshape(1, 2, 3),
    "scalar.f32": torch.tensor(42.5, dtype=torch.float32),
    "empty.f32": torch.zeros((0, 3), dtype=torch.float32),
    "enc.bn.num_batches_tracked": torch.tensor([7, -3], dtype=torch.int64),
}
metadata = {"format": "pt", "source": "cuseg golden \u00e9"}

path = os.path.join(here, "st_small.safetensors")
save_file(tensors, path, metadata=metadata)

with open(os.path.join(here, "st_small_expected.txt"), "w") as out:
    for name, t in tensors.items():
        if not t.is_floating_point():
            continue
        vals = t.float().flatten().tolist()
        dtype = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}[t.dtype]
        fields = [name, dtype, str(t.dim())] + [str(d) for d in t.shape] + [str(len(vals))]
        fields += ["%.9g" % v for v in vals]
        out.write(" ".join(fields) + "\n")
print("wrote", path, os.path.getsize(path), "bytes")
