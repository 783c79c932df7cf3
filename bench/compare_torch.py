"""Whole-model CPU inference, cuseg vs PyTorch, in one invocation.

For each model x batch: PyTorch eager fp32 (channels_last, torch.no_grad,
the same thread count), then build/bench/cuseg-bench on the same
architecture and input; prints both medians and the speed ratio
cuseg/PyTorch (> 1 means cuseg is faster). Dense fp32 convolutions take the
same time whatever the weights, so both sides use random weights.

  python3 bench/compare_torch.py --models unet_bn,smp_deeplabv3plus --batch 1,4 --size 512x512
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "golden"))


def torch_model(name):
    """The PyTorch reference of a cuseg architecture at its default options."""
    if name == "unet_bn":
        from make_golden_unet_bn import UNet
        return UNet(3, 2, False)
    if name == "smp_deeplabv3plus":
        import segmentation_models_pytorch as smp
        return smp.DeepLabV3Plus("resnet50", encoder_weights=None, classes=1)
    if name == "smp_unet":
        import segmentation_models_pytorch as smp
        return smp.Unet("resnet34", encoder_weights=None, classes=1)
    from torchvision.models import segmentation
    if name == "tv_deeplabv3":
        return segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    if name == "tv_fcn":
        return segmentation.fcn_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    raise SystemExit(f"compare_torch.py: no PyTorch reference for {name}")


def time_torch(model, x, iters, min_time):
    with torch.no_grad():
        model(x)  # warm-up: allocations, oneDNN primitives
        times, start = [], time.perf_counter()
        while len(times) < iters or time.perf_counter() - start < min_time:
            t = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="unet_bn,smp_deeplabv3plus")
    ap.add_argument("--batch", default="1,4")
    ap.add_argument("--size", default="512x512")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=5.0)
    ap.add_argument("--build", default=str(ROOT / "build"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    h, w = map(int, a.size.split("x"))
    bench = Path(a.build) / "bench" / "cuseg-bench"
    rows = []
    for name in a.models.split(","):
        model = torch_model(name).eval().to(memory_format=torch.channels_last)
        for n in map(int, a.batch.split(",")):
            x = torch.rand(n, 3, h, w).contiguous(memory_format=torch.channels_last)
            t_torch = time_torch(model, x, a.iters, a.min_time)
            out = subprocess.run([str(bench), "--model", name, "--batch", str(n), "--size", a.size, "--threads",
                                  str(a.threads), "--iters", str(a.iters), "--min-time", str(a.min_time), "--json"],
                                 capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            t_cuseg = r["median_ms"] / 1e3
            rows.append((name, n, a.size, t_cuseg * 1e3, t_torch * 1e3, t_torch / t_cuseg, r["gmac_per_s"], r["peak_frac"]))
            print(json.dumps({"model": name, "batch": n, "size": a.size, "threads": a.threads,
                              "cuseg_ms": round(t_cuseg * 1e3, 2), "torch_ms": round(t_torch * 1e3, 2),
                              "ratio": round(t_torch / t_cuseg, 3), "cuseg_gmac_per_s": r["gmac_per_s"],
                              "cuseg_peak_frac": r["peak_frac"]}), flush=True)
    print(f"\ntorch {torch.__version__}, {a.threads} threads, fp32\n")
    print("| model | batch | input | cuseg ms | PyTorch ms | cuseg / PyTorch speed | cuseg GMAC/s | % of FMA peak |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for m, n, s, c, t, ratio, g, f in rows:
        print(f"| {m} | {n} | {s} | {c:.1f} | {t:.1f} | {ratio:.2f} | {g:.1f} | {100 * f:.1f}% |")


if __name__ == "__main__":
    main()
