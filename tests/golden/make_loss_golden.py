"""Goldens for host/train/loss.c: losses and their gradients as computed by
PyTorch and segmentation_models_pytorch (models.md §6). Writes
tests/golden/train/losses.safetensors: for each case "<case>.logits" (NHWC),
"<case>.target" (int32 NHW, or float for BCE), "<case>.loss" and
"<case>.grad" (NHWC). Run: python3 tests/golden/make_loss_golden.py
"""
from pathlib import Path

import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(0)
OUT = Path(__file__).resolve().parent / "train"
OUT.mkdir(exist_ok=True)
tensors = {}


def case(name, logits, target, fn):
    z = logits.clone().double().requires_grad_(True)  # float64: the reference
    loss = fn(z, target)
    loss.backward()
    tensors[f"{name}.logits"] = logits.permute(0, 2, 3, 1).float().clone(memory_format=torch.contiguous_format)
    tensors[f"{name}.target"] = target.clone() if target.dtype == torch.float32 else target.int().clone()
    tensors[f"{name}.loss"] = loss.detach().reshape(1).double()
    tensors[f"{name}.grad"] = z.grad.permute(0, 2, 3, 1).contiguous().double()


N, C, H, W = 2, 5, 7, 6
z = torch.randn(N, C, H, W) * 2
t = torch.randint(0, C, (N, H, W))
t_ign = t.clone()
t_ign[torch.rand(N, H, W) < 0.2] = 255
w = torch.rand(C) + 0.5

case("ce_plain", z, t, lambda a, b: F.cross_entropy(a, b))
case("ce_weighted_ignore", z, t_ign, lambda a, b: F.cross_entropy(a, b, weight=w.double(), ignore_index=255))
case("ce_smooth_weighted", z, t_ign,
     lambda a, b: F.cross_entropy(a, b, weight=w.double(), ignore_index=255, label_smoothing=0.1))
case("ce_sum", z, t_ign, lambda a, b: F.cross_entropy(a, b, ignore_index=255, reduction="sum"))

zb = torch.randn(N, 1, H, W) * 2
yb = (torch.rand(N, 1, H, W) > 0.4).float()
case("bce_pos_weight", zb, yb.permute(0, 2, 3, 1).contiguous(),
     lambda a, b: F.binary_cross_entropy_with_logits(a, b.permute(0, 3, 1, 2).double(), pos_weight=torch.tensor([2.5], dtype=torch.float64)))

case("dice_multiclass_ignore", z, t_ign, lambda a, b: smp.losses.DiceLoss("multiclass", ignore_index=255)(a, b))
case("dice_multiclass_log_smooth", z, t, lambda a, b: smp.losses.DiceLoss("multiclass", log_loss=True, smooth=1.0)(a, b))
tb = (torch.rand(N, H, W) > 0.5).long()
case("dice_binary", zb, tb, lambda a, b: smp.losses.DiceLoss("binary")(a, b.unsqueeze(1)))

case("focal_multiclass", z, t, lambda a, b: smp.losses.FocalLoss("multiclass")(a, b))
case("focal_multiclass_alpha_ignore", z, t_ign,
     lambda a, b: smp.losses.FocalLoss("multiclass", alpha=0.25, gamma=1.5, ignore_index=255)(a, b))
case("focal_binary", zb, tb, lambda a, b: smp.losses.FocalLoss("binary", alpha=0.25)(a, b.unsqueeze(1)))

tensors["ce.class_weights"] = w.float()
save_file(tensors, str(OUT / "losses.safetensors"),
          metadata={"torch": torch.__version__, "smp": smp.__version__})
print(f"{len(tensors)} tensors, {(OUT / 'losses.safetensors').stat().st_size} bytes")
