"""Shared by the golden generators (make_golden_<family>.py).

A golden case is two files in tests/golden/<family>/:
  <case>.model.safetensors  a cuseg model file: the PyTorch state dict (real
                            safetensors writer) with metadata arch/options
  <case>.io.safetensors     "input" and "output.<i>" tensors, NHWC float32
The C++ tests (tests/models/golden_harness.h) load the model with
cuseg_model_load, run the input and compare every output.

Weights are PyTorch's default initialisation under a fixed seed; batch norms
get random affine parameters and running statistics so that folding them is
exercised. Run from the repository root:  python3 tests/golden/make_golden_<family>.py
"""
from pathlib import Path

import torch
from safetensors.torch import save_file

GOLDEN_DIR = Path(__file__).resolve().parent


def randomize_batchnorm(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.rand(c, generator=g) * 0.4 - 0.2)
                m.running_mean.copy_(torch.rand(c, generator=g) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)


def nhwc(t: torch.Tensor) -> torch.Tensor:
    return t.detach().permute(0, 2, 3, 1).contiguous().float()


def save_case(family: str, case: str, model: torch.nn.Module, arch: str, options: str,
              x: torch.Tensor, outputs, state_dict=None, meta=None) -> None:
    """x: NCHW input; outputs: NCHW tensors in the order of the cuseg graph's outputs."""
    out_dir = GOLDEN_DIR / family
    out_dir.mkdir(parents=True, exist_ok=True)
    sd = state_dict if state_dict is not None else model.state_dict()
    sd = {k: v.detach().float().contiguous() for k, v in sd.items()
          if not k.endswith("num_batches_tracked")}
    metadata = {"arch": arch, "options": options}
    metadata.update(meta or {})
    save_file(sd, str(out_dir / f"{case}.model.safetensors"), metadata=metadata)
    io = {"input": nhwc(x)}
    for i, o in enumerate(outputs):
        io[f"output.{i}"] = nhwc(o)
    save_file(io, str(out_dir / f"{case}.io.safetensors"),
              metadata={"case": case, "torch": torch.__version__})
    size = sum(p.stat().st_size for p in out_dir.glob(f"{case}.*.safetensors"))
    print(f"{family}/{case}: {size / 1e6:.2f} MB, input {tuple(x.shape)}, "
          f"outputs {[tuple(o.shape) for o in outputs]}")
