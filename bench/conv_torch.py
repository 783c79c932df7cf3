#!/usr/bin/env python3
"""PyTorch CPU side of the conv benchmark: the layers of cuseg_conv_bench
(bench/conv_layers.c; keep the two tables in step) as torch.nn.Conv2d, fp32,
batch 1, under torch.no_grad, in both NCHW-contiguous and channels_last
layouts. Prints one JSON line per (layer, layout) with the median time and
GFLOP/s (2 x MACs / median; the bias is not counted, as in the C side).

    python3 bench/conv_torch.py --threads 2 [--layers a,c] [--quick]
"""
import argparse
import json
import math
import statistics
import sys
import time

import torch

# id, where, n, h, w, cin, cout, k, stride, pad, dilation, groups
LAYERS = [
    ("a", "U-Net / VGG stage 1 3x3", 1, 256, 256, 64, 64, 3, 1, 1, 1, 1),
    ("b", "DeepLab ASPP 3x3 dilation 12", 1, 64, 64, 512, 1024, 3, 1, 12, 12, 1),
    ("c", "ResNet bottleneck 1x1 reduce", 1, 64, 64, 2048, 256, 1, 1, 0, 1, 1),
    ("d", "MobileNetV2 depthwise 3x3", 1, 128, 128, 256, 256, 3, 1, 1, 1, 256),
    ("e", "U-Net / VGG stage 2 3x3", 1, 128, 128, 128, 128, 3, 1, 1, 1, 1),
    ("f", "ResNet downsampling 3x3 stride 2", 1, 64, 64, 256, 512, 3, 2, 1, 1, 1),
]


def quick(layer):
    """Same shrinking as conv_quick() in conv_layers.c."""
    lid, what, n, h, w, cin, cout, k, s, p, d, g = layer
    qcin, qcout = max(cin // 16, 1), max(cout // 16, 1)
    qg = g
    if g == cin:
        qg = qcout = qcin
    return (lid, what, n, 9, 9, qcin, qcout, k, s, p, d, qg)


def out_size(i, k, s, p, d):
    return (i + 2 * p - d * (k - 1) - 1) // s + 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5, help="at least this many timed runs per layer and layout")
    ap.add_argument("--min-time", type=float, default=1.0, help="and at least this many seconds of runs")
    ap.add_argument("--layers", default=",".join(l[0] for l in LAYERS))
    ap.add_argument("--layouts", default="nchw,channels_last")
    ap.add_argument("--quick", action="store_true", help="tiny shapes, one run")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    by_id = {l[0]: l for l in LAYERS}
    wanted = a.layers.split(",")
    for lid in wanted:
        if lid not in by_id:
            sys.exit(f"conv_torch.py: unknown layer {lid!r}")
    print(json.dumps({"kind": "torch", "version": torch.__version__, "threads": torch.get_num_threads(),
                      "mkldnn": torch.backends.mkldnn.is_available()}), flush=True)

    for lid in wanted:
        layer = quick(by_id[lid]) if a.quick else by_id[lid]
        _, _, n, h, w, cin, cout, k, s, p, d, g = layer
        ho, wo = out_size(h, k, s, p, d), out_size(w, k, s, p, d)
        macs = n * ho * wo * cout * (cin // g) * k * k
        for layout in a.layouts.split(","):
            fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
            conv = torch.nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g, bias=True).eval()
            conv = conv.to(memory_format=fmt)
            x = torch.rand(n, cin, h, w).mul_(2).sub_(1).contiguous(memory_format=fmt)
            with torch.no_grad():
                for _ in range(1 if a.quick else 2):  # warm-up: allocations, oneDNN primitive cache
                    y = conv(x)
                t0 = time.perf_counter()
                conv(x)
                est = max(time.perf_counter() - t0, 1e-6)
                reps = 1 if a.quick else max(a.reps, math.ceil(a.min_time / est))
                times = []
                for _ in range(reps):
                    t0 = time.perf_counter()
                    y = conv(x)
                    times.append(time.perf_counter() - t0)
            assert tuple(y.shape) == (n, cout, ho, wo)
            med = statistics.median(times)
            desc = f"{k}x{k}" + (f" d{d}" if d > 1 else "") + (f" s{s}" if s > 1 else "") + \
                (" dw" if g == cin and g > 1 else (f" g{g}" if g > 1 else "")) + f" {cin}->{cout} @{h}x{w}"
            print(json.dumps({"kind": "conv", "impl": "torch", "layout": layout, "layer": lid, "shape": desc,
                              "threads": a.threads, "median_ms": round(med * 1e3, 4), "min_ms":
                              round(min(times) * 1e3, 4), "reps": reps,
                              "gflops": round(2 * macs / med * 1e-9, 2)}), flush=True)


if __name__ == "__main__":
    main()
