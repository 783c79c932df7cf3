"""The ISBI 2012 membrane recipe of bench/train_isbi.sh in PyTorch (CPU), for
comparison with `cuseg train` (issue #6 acceptance): the same milesial U-Net
(tests/golden/make_golden_unet_bn.py), the same initial weights (cuseg's
init.safetensors), the same data split (bench/isbi/train.txt: images 0-24,
heldout.txt: 25-29), labels 0/255 -> classes 0/1, input /255, random 256x256
crops with horizontal and vertical flips, Adam with a poly schedule (power
0.9, stepped per batch as cuseg does), cross-entropy, BN in training mode;
then held-out pixel accuracy, mean accuracy and mIoU on the full 512x512
images with BN in eval mode. Random draws differ from cuseg's (torch's
generator), the distribution is the same.

usage: python3 bench/train_isbi_torch.py --init RUN/init.safetensors
         [--data DIR] [--epochs 30] [--batch 4] [--lr 1e-3] [--crop 256]
         [--width 16] [--depth 4] [--threads 2] [--seed 0]
       python3 bench/train_isbi_torch.py --eval RUN/model.safetensors [--data DIR]
         (no training: cuseg's trained model scored by this script's evaluation)
"""
import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "golden"))
from make_golden_unet_bn import UNet  # noqa: E402


def read_pairs(list_file, root):
    pairs = []
    for line in open(list_file):
        if line.strip() and not line.startswith("#"):
            a, b = line.split()
            img = np.asarray(Image.open(os.path.join(root, a)).convert("L"), dtype=np.float32) / 255.0
            lab = (np.asarray(Image.open(os.path.join(root, b))) > 127).astype(np.int64)  # 0 / 255 -> 0 / 1
            pairs.append((img, lab))
    return pairs


def confusion(pred, gt, classes):
    return np.bincount(gt.reshape(-1) * classes + pred.reshape(-1), minlength=classes * classes).reshape(classes, classes)


def metrics(cm):
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.diag(cm) / (cm.sum(0) + cm.sum(1) - np.diag(cm))
        acc = np.diag(cm) / cm.sum(1)
    return np.diag(cm).sum() / cm.sum(), np.nanmean(acc), np.nanmean(iou)


def evaluate(model, held):
    """Held-out pixel accuracy, mean accuracy and mIoU, full images, BN in eval mode."""
    model.eval()
    cm = np.zeros((2, 2), dtype=np.int64)
    with torch.no_grad():
        for img, lab in held:
            pred = model(torch.from_numpy(img)[None, None]).argmax(1)[0].numpy()
            cm += confusion(pred, lab, 2)
    return metrics(cm)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--init")
    ap.add_argument("--eval")
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "datasets", "isbi2012_membrane"))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if not (a.init or a.eval):
        ap.error("--init or --eval is required")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    held = read_pairs(os.path.join(HERE, "isbi", "heldout.txt"), a.data)
    model = UNet(1, 2, False, w=a.width, d=a.depth)
    missing, unexpected = model.load_state_dict(load_file(a.eval or a.init), strict=False)
    assert not unexpected and all("num_batches" in k for k in missing), (missing, unexpected)
    if a.eval:
        pa, ma, miou = evaluate(model, held)
        print(f"{a.eval} scored by PyTorch: held-out pixel acc {pa:.4f}  mean acc {ma:.4f}  mIoU {miou:.4f}")
        return
    train = read_pairs(os.path.join(HERE, "isbi", "train.txt"), a.data)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, weight_decay=0.0)
    per_epoch = (len(train) + a.batch - 1) // a.batch
    sched = torch.optim.lr_scheduler.PolynomialLR(opt, total_iters=per_epoch * a.epochs, power=0.9)

    t0 = time.time()
    for epoch in range(a.epochs):
        model.train()
        order = rng.permutation(len(train))
        total = 0.0
        for b in range(per_epoch):
            xs, ys = [], []
            for i in order[b * a.batch:(b + 1) * a.batch]:
                img, lab = train[i]
                h, w = img.shape
                y0, x0 = rng.integers(0, h - a.crop + 1), rng.integers(0, w - a.crop + 1)
                ci, cl = img[y0:y0 + a.crop, x0:x0 + a.crop], lab[y0:y0 + a.crop, x0:x0 + a.crop]
                if rng.random() < 0.5:
                    ci, cl = ci[:, ::-1], cl[:, ::-1]
                if rng.random() < 0.5:
                    ci, cl = ci[::-1], cl[::-1]
                xs.append(np.ascontiguousarray(ci))
                ys.append(np.ascontiguousarray(cl))
            x = torch.from_numpy(np.stack(xs))[:, None]
            y = torch.from_numpy(np.stack(ys))
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(xs)
        print(f"epoch {epoch + 1}/{a.epochs}  loss {total / len(train):.4f}  {time.time() - t0:.1f}s", flush=True)
    train_s = time.time() - t0

    pa, ma, miou = evaluate(model, held)
    print(f"torch: held-out pixel acc {pa:.4f}  mean acc {ma:.4f}  mIoU {miou:.4f}  train wall time {train_s:.1f}s")


if __name__ == "__main__":
    main()
