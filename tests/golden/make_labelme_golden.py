"""Goldens for `cuseg convert labelme`: random shapes of every type, drawn by
labelme's shape_to_mask logic (labelme/_utils/shape.py at commit 51e50e43,
reproduced below) with Pillow's ImageDraw. Needs numpy and Pillow (13.0 was
used); writes tests/golden/labelme/shapes_<k>.json, labels.txt and
shapes_<k>.png (8-bit class indices)."""
import json
import math
import os

import numpy as np
import PIL.Image
import PIL.ImageDraw

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "labelme")
LABELS = ["__ignore__", "_background_", "a", "b", "c", "d", "e"]


def shape_to_mask(img_shape, points, shape_type=None, line_width=10, point_size=5):
    mask = PIL.Image.fromarray(np.zeros(img_shape[:2], dtype=np.uint8))
    draw = PIL.ImageDraw.Draw(mask)
    xy = [tuple(point) for point in points]
    if shape_type == "circle":
        (cx, cy), (px, py) = xy
        d = math.sqrt((cx - px) ** 2 + (cy - py) ** 2)
        draw.ellipse(((cx - d, cy - d), (cx + d, cy + d)), outline=1, fill=1)
    elif shape_type == "rectangle":
        (x0, y0), (x1, y1) = xy
        draw.rectangle(((min(x0, x1), min(y0, y1)), (max(x0, x1), max(y0, y1))), outline=1, fill=1)
    elif shape_type == "line":
        draw.line(xy=xy, fill=1, width=line_width)
    elif shape_type == "linestrip":
        draw.line(xy=xy, fill=1, width=line_width, joint="curve")
    elif shape_type == "point":
        cx, cy = xy[0]
        r = point_size
        draw.ellipse(((cx - r, cy - r), (cx + r, cy + r)), outline=1, fill=1)
    else:  # polygon, oriented_rectangle
        draw.polygon(xy=xy, outline=1, fill=1)
    return np.array(mask, dtype=bool)


def random_shape(rng, h, w):
    kind = rng.choice(["polygon", "rectangle", "circle", "line", "linestrip", "point", "oriented_rectangle", None])
    pt = lambda: [float(rng.uniform(-15, w + 15)), float(rng.uniform(-15, h + 15))]
    if kind in ("polygon", None):
        n = int(rng.integers(3, 9))
        c = np.array(pt())
        pts = [list(map(float, c + rng.normal(0, 25, 2))) for _ in range(n)]
    elif kind == "oriented_rectangle":
        c, a, s = np.array(pt()), rng.uniform(0, math.pi), rng.uniform(5, 40, 2)
        u, v = np.array([math.cos(a), math.sin(a)]) * s[0], np.array([-math.sin(a), math.cos(a)]) * s[1]
        pts = [list(map(float, p)) for p in (c - u - v, c + u - v, c + u + v, c - u + v)]
    elif kind in ("rectangle", "circle", "line"):
        p = pt()
        pts = [p, [p[0] + float(rng.normal(0, 30)), p[1] + float(rng.normal(0, 30))]]
    elif kind == "linestrip":
        n = int(rng.integers(2, 8))
        p = np.array(pt())
        pts = []
        for _ in range(n):
            pts.append(list(map(float, p)))
            p = p + rng.normal(0, 30, 2)
    else:
        pts = [pt()]
    if rng.random() < 0.3:  # integer coordinates, as older labelme versions saved
        pts = [[float(round(x)), float(round(y))] for x, y in pts]
    return {"label": str(rng.choice(LABELS[2:])), "points": pts, "group_id": None,
            "shape_type": kind, "flags": {}}


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "labels.txt"), "w") as f:
        f.write("\n".join(LABELS) + "\n")
    value = {name: i - 1 for i, name in enumerate(LABELS)}
    for k in range(6):
        rng = np.random.default_rng(100 + k)
        h, w = int(rng.integers(60, 140)), int(rng.integers(60, 160))
        shapes = [random_shape(rng, h, w) for _ in range(14)]
        doc = {"version": "5.0.0", "flags": {}, "shapes": shapes, "imagePath": f"shapes_{k}.png",
               "imageData": None, "imageHeight": h, "imageWidth": w}
        with open(os.path.join(OUT, f"shapes_{k}.json"), "w") as f:
            json.dump(doc, f, indent=1)
        cls = np.zeros((h, w), np.int32)
        for s in shapes:
            cls[shape_to_mask((h, w), s["points"], s["shape_type"])] = value[s["label"]]
        PIL.Image.fromarray(cls.astype(np.uint8)).save(os.path.join(OUT, f"shapes_{k}.png"))
        print(k, h, w, sorted(set(s["shape_type"] or "polygon" for s in shapes)))


if __name__ == "__main__":
    main()
