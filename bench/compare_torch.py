"""Whole-model inference, cuseg vs PyTorch, in one invocation (CPU or GPU).

For each model x batch: PyTorch eager fp32 (channels_last, torch.no_grad,
the same thread count), then build/bench/cuseg-bench on the same
architecture and input; prints both medians and the speed ratio
cuseg/PyTorch (> 1 means cuseg is faster). Dense fp32 convolutions take the
same time whatever the weights, so both sides use random weights.

  python3 bench/compare_torch.py --models unet_bn,smp_deeplabv3plus --batch 1,4 --size 512x512

With --device cuda both sides run on GPU 0 and a timed run is the same work
on both: host input to the device, the model, every output back to the host
(cuseg_session_run's contract; torch: x.cuda() -> model -> .cpu()). PyTorch
runs with cudnn.benchmark (timed algorithm search), so cuseg is timed with
--search too; --precision picks fp32 (TF32 off on both), tf32, or a 16-bit
storage type (torch: the model and input cast to it, no autocast).
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
    from make_golden_vgg import FCN, DeepLabLargeFOV
    if name == "fcn8s":
        return FCN(8)
    if name == "deeplab_v1":
        return DeepLabLargeFOV()
    raise SystemExit(f"compare_torch.py: no PyTorch reference for {name}")


def run_once(model, x, device, dtype):
    if device == "cpu":
        return model(x)
    y = model(x.to(device, non_blocking=False).to(dtype))
    outs = y.values() if isinstance(y, dict) else [y]
    return [o.float().cpu() for o in outs]  # .cpu() synchronises


def time_torch(model, x, iters, min_time, device="cpu", dtype=torch.float32):
    with torch.no_grad():
        for _ in range(2):  # warm-up: allocations, oneDNN primitives, cuDNN's search
            run_once(model, x, device, dtype)
        times, start = [], time.perf_counter()
        while len(times) < iters or time.perf_counter() - start < min_time:
            t = time.perf_counter()
            run_once(model, x, device, dtype)
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
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16", "fp16"])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    gpu = a.device == "cuda"
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.precision, torch.float32)
    if gpu:
        torch.backends.cudnn.benchmark = True
        tf32 = a.precision == "tf32"
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
    h, w = map(int, a.size.split("x"))
    bench = Path(a.build) / "bench" / "cuseg-bench"
    rows = []
    for name in a.models.split(","):
        model = torch_model(name).eval().to(memory_format=torch.channels_last)
        if gpu:
            model = model.to("cuda", dtype)
        for n in map(int, a.batch.split(",")):
            x = torch.rand(n, 3, h, w).contiguous(memory_format=torch.channels_last)
            t_torch = time_torch(model, x, a.iters, a.min_time, a.device, dtype)
            cmd = [str(bench), "--model", name, "--batch", str(n), "--size", a.size, "--threads",
                   str(a.threads), "--iters", str(a.iters), "--min-time", str(a.min_time), "--json"]
            if gpu:
                cmd += ["--device", "cuda:0", "--precision", a.precision, "--search"]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            t_cuseg = r["median_ms"] / 1e3
            rows.append((name, n, a.size, t_cuseg * 1e3, t_torch * 1e3, t_torch / t_cuseg, r["gmac_per_s"], r["peak_frac"]))
            print(json.dumps({"model": name, "batch": n, "size": a.size, "threads": a.threads,
                              "device": a.device, "precision": a.precision,
                              "cuseg_ms": round(t_cuseg * 1e3, 2), "torch_ms": round(t_torch * 1e3, 2),
                              "ratio": round(t_torch / t_cuseg, 3), "cuseg_gmac_per_s": r["gmac_per_s"],
                              "cuseg_peak_frac": r["peak_frac"]}), flush=True)
    where = torch.cuda.get_device_name(0) if gpu else f"{a.threads} threads"
    print(f"\ntorch {torch.__version__}, {where}, {a.precision}\n")
    print("| model | batch | input | cuseg ms | PyTorch ms | cuseg / PyTorch speed | cuseg GMAC/s | % of FMA peak |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for m, n, s, c, t, ratio, g, f in rows:
        pct = f"{100 * f:.1f}%" if f >= 0 else "-"
        print(f"| {m} | {n} | {s} | {c:.2f} | {t:.2f} | {ratio:.2f} | {g:.1f} | {pct} |")


if __name__ == "__main__":
    main()
