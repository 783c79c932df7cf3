"""Golden for `cuseg eval`: metrics of CamVid val labels against perturbed
copies of them, computed with numpy (an implementation nobody here wrote the C
of). The perturbation is a fixed formula that tests/cli/test_eval.cpp applies
too, for file k (sorted names), row y, column x and ground truth g:
  g == 11 (unlabelled, the ignore value): pred = (x + y) % 11
  (7x + 13y + 3k) % 5 == 0:               pred = (g + 1 + (x + k) % 3) % 11
  otherwise:                              pred = g
Writes tests/golden/eval_camvid.txt: the summary lines exactly as `cuseg
eval` prints them (6 decimals) and the values at full precision.
Run: python3 tests/golden/make_eval_golden.py
"""
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
LABELS = ROOT.parent / "shared" / "datasets" / "camvid" / "val" / "labels"
C, IGNORE = 11, 11

hist = np.zeros((C, C), dtype=np.int64)
for k, path in enumerate(sorted(LABELS.glob("*.png"))):
    g = np.asarray(Image.open(path)).astype(np.int64)
    y, x = np.indices(g.shape)
    pred = np.where((7 * x + 13 * y + 3 * k) % 5 == 0, (g + 1 + (x + k) % 3) % C, g)
    pred = np.where(g == IGNORE, (x + y) % C, pred)
    valid = (g >= 0) & (g < C)
    hist += np.bincount(C * g[valid] + pred[valid], minlength=C * C).reshape(C, C)

with np.errstate(invalid="ignore", divide="ignore"):
    iou = np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist))
    acc = np.diag(hist) / hist.sum(1)
    dice = 2 * np.diag(hist) / (hist.sum(1) + hist.sum(0))
freq = hist.sum(1) / hist.sum()
summary = {
    "pixel accuracy": np.diag(hist).sum() / hist.sum(),
    "mean accuracy": np.nanmean(acc),
    "mIoU": np.nanmean(iou),
    "FW IoU": (freq[freq > 0] * iou[freq > 0]).sum(),
    "mean Dice": np.nanmean(dice),
}
lines = ["# printed by cuseg eval (6 decimals); then full precision; numpy " + np.__version__]
for name, v in summary.items():
    lines.append(f"{name:<16} {v:.6f}")
for name, v in summary.items():
    lines.append(f"full {name.replace(' ', '_')} {v:.17g}")
for c in range(C):
    lines.append(f"class {c} {iou[c]:.17g} {acc[c]:.17g} {dice[c]:.17g}")
(ROOT / "tests" / "golden" / "eval_camvid.txt").write_text("\n".join(lines) + "\n")
print("\n".join(lines[:6]))
