"""Times pydensecrf (pip install pydensecrf2) on bench/crf_bench.c's input:
the same image, the same closed-form probabilities, DeepLab v1 defaults
(w1=4, theta_alpha=121, theta_beta=5, w2=3, theta_gamma=3), 10 iterations.
pydensecrf is single-threaded. Prints the median in ms.

  python3 bench/crf_pydensecrf.py [--image PATH] [--reps N] [--labels L]
"""
import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image
import pydensecrf.densecrf as dcrf
from pydensecrf.utils import unary_from_softmax

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT.parent / "shared/datasets/labelme_examples/semantic_segmentation/images/2011_000006.png"


def make_prob(h, w, labels):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    l = np.arange(labels, dtype=np.float64)[:, None, None]
    z = 3.0 * np.sin(0.021 * x * (1 + l % 4) + 0.7 * l) * np.cos(0.017 * y * (1 + l % 3) - 0.3 * l)
    e = np.exp(z - z.max(0, keepdims=True))
    return (e / e.sum(0, keepdims=True)).astype(np.float32)  # L x H x W


def crf(rgb, prob, iterations):
    labels, h, w = prob.shape
    d = dcrf.DenseCRF2D(w, h, labels)
    d.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(prob)))
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=121, srgb=5, rgbim=rgb, compat=4)
    return np.array(d.inference(iterations)).reshape(labels, h, w)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", default=str(IMAGE))
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--labels", type=int, default=21)
    ap.add_argument("--iterations", type=int, default=10)
    a = ap.parse_args()
    rgb = np.array(Image.open(a.image).convert("RGB"), dtype=np.uint8, order="C")  # writable
    h, w = rgb.shape[:2]
    prob = make_prob(h, w, a.labels)
    q = crf(rgb, prob, a.iterations)  # warm-up
    times, cpu = [], []
    for _ in range(a.reps):
        t0, c0 = time.perf_counter(), time.process_time()
        crf(rgb, prob, a.iterations)
        times.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    times.sort()
    cpu.sort()
    changed = (q.argmax(0) != prob.argmax(0)).mean()
    print(f"pydensecrf: {w}x{h}, {a.labels} labels, {a.iterations} iterations, 1 thread: "
          f"median {times[len(times) // 2]:.1f} ms (min {times[0]:.1f}, max {times[-1]:.1f}, "
          f"{a.reps} runs); {changed:.1%} labels changed; CPU time median {cpu[len(cpu) // 2]:.1f} ms")


if __name__ == "__main__":
    main()
