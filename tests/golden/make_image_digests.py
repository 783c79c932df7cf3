"""Writes tests/golden/image_digests.txt: how Pillow decodes test images
(shape and CRC-32 of the raw samples), so the C decoders are checked against
an implementation nobody here wrote. Also writes a few small PNGs with
layouts the shared datasets lack (16-bit labels, 4-bit palette, alpha).
Run from the repository root: python3 tests/golden/make_image_digests.py
"""
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "datasets"
OWN = ROOT / "tests" / "golden" / "images"

rng = np.random.default_rng(7)
OWN.mkdir(parents=True, exist_ok=True)
Image.fromarray(rng.integers(0, 65536, (23, 37), dtype=np.uint16)).save(OWN / "label16.png")
pal = Image.fromarray(rng.integers(0, 16, (19, 29), dtype=np.uint8), mode="P")
pal.putpalette(list(rng.integers(0, 256, 48, dtype=np.uint8)))
pal.save(OWN / "pal4.png", bits=4)
Image.fromarray(rng.integers(0, 256, (17, 21, 2), dtype=np.uint8), mode="LA").save(OWN / "gray_alpha.png")
Image.fromarray(rng.integers(0, 256, (13, 11, 4), dtype=np.uint8), mode="RGBA").save(OWN / "rgba.png")

CASES = [
    ("shared", "camvid/train/images/0001TP_006690.png", ["RGB", "GRAY"]),
    ("shared", "camvid/train/labels/0001TP_006690.png", ["LABEL", "RGB"]),
    ("shared", "isbi2012_membrane/train/images/0.png", ["GRAY", "RGB"]),
    ("shared", "labelme_examples/semantic_segmentation/labels/2011_000003.png", ["LABEL", "RGB"]),
    ("shared", "labelme_examples/semantic_segmentation/json/2011_000003.jpg", ["RGB", "GRAY"]),
    ("own", "label16.png", ["LABEL"]),
    ("own", "pal4.png", ["LABEL", "RGB"]),
    ("own", "gray_alpha.png", ["GRAY", "RGB"]),
    ("own", "rgba.png", ["RGB", "GRAY"]),
]


def decode(path, mode):
    im = Image.open(path)
    if mode == "RGB":
        return np.asarray(im.convert("RGB"))
    if mode == "GRAY":
        return np.asarray(im.convert("RGB").convert("L"))
    a = np.asarray(im)  # LABEL: indices (P), values (L), uint16 (I;16)
    return a.astype(np.uint16) if a.dtype != np.uint8 else a


lines = ["# where path mode h w c bytes_per_sample crc32 (Pillow " + Image.__version__ + ")"]
for where, rel, modes in CASES:
    path = (SHARED if where == "shared" else OWN) / rel
    for mode in modes:
        a = decode(path, mode)
        h, w = a.shape[:2]
        c = a.shape[2] if a.ndim == 3 else 1
        lines.append(f"{where} {rel} {mode} {h} {w} {c} {a.dtype.itemsize} {zlib.crc32(a.astype(a.dtype.newbyteorder('<')).tobytes()):08x}")
(ROOT / "tests" / "golden" / "image_digests.txt").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
