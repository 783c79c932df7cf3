#!/usr/bin/env bash
# Manual check: `cuseg segment` on one 6000 x 6000 RGB image (automatic
# sliding windows) in bounded memory. Prints wall time and peak RSS.
# Usage: bash bench/segment_large.sh [BUILD_DIR] [MODEL] [extra segment options...]
# Needs python3 with numpy and Pillow (to make the image) and GNU time.
set -euo pipefail
build=${1:-build}
model=${2:-unet_bn:classes=21,width=8,depth=4,upsampling=bilinear}
shift $(( $# > 2 ? 2 : $# ))
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/in"
python3 - "$work/in/big.png" <<'PY'
import sys, numpy as np, PIL.Image
y, x = np.mgrid[0:6000, 0:6000].astype(np.float32)
img = np.stack([127 + 120 * np.sin(x * 0.01 * (c + 1)) * np.cos(y * 0.007 + c) for c in range(3)], -1)
PIL.Image.fromarray(img.astype(np.uint8)).save(sys.argv[1])
PY
/usr/bin/time -f "wall %e s, peak RSS %M KB" "$build/cuseg" segment -m "$model" -i "$work/in" -o "$work/out" \
    --prob conf "$@"
