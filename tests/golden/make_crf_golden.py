"""Dense CRF goldens from pydensecrf (pip install pydensecrf2; imports as pydensecrf).

Each case in tests/golden/crf/<case>.safetensors holds:
  rgb     uint8  H x W x 3   a crop of a CamVid training image
  prob    F16    H x W x L   "softmax" input (stored as float16 to keep the file
                             small; pydensecrf was run on exactly these values)
  q       F32    H x W x L   pydensecrf marginals after T iterations
plus metadata with the parameters. Run from the repository root:
  python3 tests/golden/make_crf_golden.py
"""
from pathlib import Path

import numpy as np
from PIL import Image
import pydensecrf.densecrf as dcrf
from pydensecrf.utils import unary_from_softmax
from safetensors.numpy import load_file, save_file

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "crf"
IMAGE = ROOT.parent / "shared/datasets/camvid/train/images/0001TP_006690.png"

NORMS = {"symmetric": dcrf.NORMALIZE_SYMMETRIC, "after": dcrf.NORMALIZE_AFTER}


def smooth_prob(h, w, labels, rng):
    """Blocky low-resolution logits, bilinearly upsampled, plus pixel noise:
    confident regions with uncertain borders, like an upsampled DCNN output."""
    low = rng.normal(0.0, 2.0, size=(labels, h // 8 + 2, w // 8 + 2)).astype(np.float32)
    ys = np.linspace(0, low.shape[1] - 1.001, h)
    xs = np.linspace(0, low.shape[2] - 1.001, w)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    up = (low[:, y0][:, :, x0] * (1 - fy) * (1 - fx) + low[:, y0 + 1][:, :, x0] * fy * (1 - fx) +
          low[:, y0][:, :, x0 + 1] * (1 - fy) * fx + low[:, y0 + 1][:, :, x0 + 1] * fy * fx)
    logits = up + rng.normal(0.0, 0.7, size=up.shape)
    e = np.exp(logits - logits.max(0, keepdims=True))
    p = (e / e.sum(0, keepdims=True)).transpose(1, 2, 0)  # H x W x L
    return np.ascontiguousarray(p.astype(np.float16).astype(np.float32))


def run_pydensecrf(rgb, prob, w1, theta_alpha, theta_beta, w2, theta_gamma, iters, norm):
    h, w, labels = prob.shape
    d = dcrf.DenseCRF2D(w, h, labels)
    d.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(prob.transpose(2, 0, 1))))
    d.addPairwiseGaussian(sxy=theta_gamma, compat=w2, normalization=NORMS[norm])
    d.addPairwiseBilateral(sxy=theta_alpha, srgb=theta_beta, rgbim=np.ascontiguousarray(rgb),
                           compat=w1, normalization=NORMS[norm])
    q = np.array(d.inference(iters), dtype=np.float32).reshape(labels, h, w)
    return np.ascontiguousarray(q.transpose(1, 2, 0))


def make(case, x0, y0, w, h, labels, seed, w1, ta, tb, w2, tg, iters, norm):
    rgb = np.asarray(Image.open(IMAGE).convert("RGB"))[y0:y0 + h, x0:x0 + w].copy()
    prob = smooth_prob(h, w, labels, np.random.default_rng(seed))
    q = run_pydensecrf(rgb, prob, w1, ta, tb, w2, tg, iters, norm)
    meta = {k: str(v) for k, v in dict(w1=w1, theta_alpha=ta, theta_beta=tb, w2=w2,
                                        theta_gamma=tg, iterations=iters,
                                        normalization=norm).items()}
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{case}.safetensors"
    tensors = {"rgb": rgb, "prob": np.ascontiguousarray(prob.astype(np.float16)), "q": q}
    save_file(tensors, str(path), metadata=meta)
    back = load_file(str(path))  # safetensors writes raw buffers: check the layout survived
    assert all(np.array_equal(back[k], v) for k, v in tensors.items())
    flips = (q.argmax(2) != prob.argmax(2)).mean()
    print(f"{case}: {path.stat().st_size / 1e3:.0f} kB, {h}x{w}x{labels}, "
          f"{flips:.1%} labels changed by the CRF")


if __name__ == "__main__":
    # DeepLab-LargeFOV defaults on a 64x48 crop with 21 labels.
    make("deeplab_default", 200, 150, 64, 48, 21, 1, 4.0, 121.0, 5.0, 3.0, 3.0, 10, "symmetric")
    # Other settings: a short bilateral range, the 2011 release's normalisation.
    make("after_norm", 300, 40, 40, 32, 4, 2, 5.0, 20.0, 8.0, 2.0, 1.5, 5, "after")
