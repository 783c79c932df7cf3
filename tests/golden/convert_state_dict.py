"""Converts a PyTorch state dict into a cuseg model file (safetensors with
the architecture in __metadata__). Parameter names stay PyTorch's, so the
cuseg architecture of the same layout loads it as is.

  python3 tests/golden/convert_state_dict.py weights.pth model.safetensors \\
      --arch tv_deeplabv3 --options "classes=21,aux=1"

The .pth may hold a state dict, a dict with a "state_dict"/"model" entry, or
a whole pickled module. num_batches_tracked counters and non-tensor entries
(e.g. milesial's "mask_values") are dropped. Writes F32.
"""
import argparse

import torch
from safetensors.torch import save_file


def to_cuseg(state_dict, arch, options, path, extra_meta=None):
    tensors = {k: v.detach().float().contiguous().clone() for k, v in state_dict.items()
               if torch.is_tensor(v) and not k.endswith("num_batches_tracked")}
    meta = {"arch": arch, "options": options}
    meta.update(extra_meta or {})
    save_file(tensors, path, metadata=meta)
    return len(tensors)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pth")
    ap.add_argument("out")
    ap.add_argument("--arch", required=True, help="cuseg architecture, see `cuseg archs`")
    ap.add_argument("--options", default="", help="cuseg options, e.g. classes=21,aux=1")
    a = ap.parse_args()
    obj = torch.load(a.pth, map_location="cpu", weights_only=False)
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    n = to_cuseg(obj, a.arch, a.options, a.out)
    print(f"{a.out}: {n} tensors, arch {a.arch}({a.options})")


if __name__ == "__main__":
    main()
