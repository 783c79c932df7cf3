"""Converts a PyTorch state dict into a cuseg model file: safetensors, every
tensor F32, with __metadata__ "arch", "options" and the input preprocessing
the weights expect (models.md §0.7). Parameter names stay PyTorch's, so the
cuseg architecture of the same layout loads the file as is.

  python3 tests/golden/convert_state_dict.py weights.pth model.safetensors \\
      --arch tv_deeplabv3 --options "classes=21,aux=1"

The .pth may hold a state dict, a dict with a "state_dict"/"model" entry, or
a whole pickled module; a "module." prefix on every key (DataParallel) is
removed. num_batches_tracked counters and non-tensor entries (e.g. milesial's
"mask_values") are dropped, and so are the aliases jfzhang95's MobileNetV2
keeps of its own layers (backbone.low_level_features.* and
backbone.high_level_features.* repeat backbone.features.*).

--preprocess: imagenet (RGB, /255, ImageNet mean/std: torchvision and smp
weights), unit (RGB, /255), caffe_bgr:<B,G,R means> (BGR, 0-255, mean
subtracted), or none (leave it to the architecture's default). The default
is imagenet for the tv_* and smp_* architectures and none otherwise.
"""
import argparse

import torch
from safetensors.torch import save_file

IMAGENET = {"channel_order": "RGB", "input_scale": "0.00392156862745098",
            "mean": "0.485,0.456,0.406", "std": "0.229,0.224,0.225"}
UNIT = {"channel_order": "RGB", "input_scale": "0.00392156862745098", "mean": "0,0,0", "std": "1,1,1"}


def preprocess_meta(preset, arch):
    """Metadata keys for a --preprocess value (see the module docstring)."""
    if preset is None:
        preset = "imagenet" if arch.startswith(("tv_", "smp_")) else "none"
    if preset == "imagenet":
        return dict(IMAGENET)
    if preset == "unit":
        return dict(UNIT)
    if preset == "none":
        return {}
    if preset.startswith("caffe_bgr:"):
        mean = preset.split(":", 1)[1]
        if len([float(v) for v in mean.split(",")]) != 3:
            raise ValueError(f"--preprocess {preset}: expected three B,G,R means")
        return {"channel_order": "BGR", "input_scale": "1", "mean": mean, "std": "1,1,1"}
    raise ValueError(f"--preprocess {preset}: expected imagenet, unit, caffe_bgr:<B,G,R> or none")


def clean_state_dict(state_dict):
    """F32 tensors without num_batches_tracked; a DataParallel "module." prefix removed."""
    tensors = {k: v for k, v in state_dict.items() if torch.is_tensor(v) and not k.endswith("num_batches_tracked")}
    if tensors and all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    if any(k.startswith("backbone.features.") for k in tensors):
        tensors = {k: v for k, v in tensors.items()
                   if not k.startswith(("backbone.low_level_features.", "backbone.high_level_features."))}
    return {k: v.detach().float().contiguous().clone() for k, v in tensors.items()}


def to_cuseg(state_dict, arch, options, path, extra_meta=None, preprocess=None):
    """Writes the cuseg model file `path`; returns the number of tensors."""
    tensors = clean_state_dict(state_dict)
    meta = {"arch": arch, "options": options}
    meta.update(preprocess_meta(preprocess, arch))
    meta.update(extra_meta or {})
    save_file(tensors, path, metadata=meta)
    return len(tensors)


def load_state_dict(pth):
    obj = torch.load(pth, map_location="cpu", weights_only=False)
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise SystemExit(f"{pth}: no state dict found (got {type(obj).__name__})")
    return obj


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pth")
    ap.add_argument("out")
    ap.add_argument("--arch", required=True, help="cuseg architecture, see `cuseg archs`")
    ap.add_argument("--options", default="", help="cuseg options, e.g. classes=21,aux=1")
    ap.add_argument("--preprocess", default=None, help="imagenet | unit | caffe_bgr:<B,G,R> | none")
    a = ap.parse_args()
    n = to_cuseg(load_state_dict(a.pth), a.arch, a.options, a.out, preprocess=a.preprocess)
    print(f"{a.out}: {n} tensors, arch {a.arch}({a.options})")


if __name__ == "__main__":
    main()
