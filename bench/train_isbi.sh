#!/usr/bin/env bash
# ISBI 2012 membranes (issue #6 acceptance, a manual run: minutes of CPU):
# `cuseg train` on images 0-24, held-out metrics on 25-29, then the same
# recipe in PyTorch from the same initial weights (bench/train_isbi_torch.py).
# Usage: bash bench/train_isbi.sh [BUILD_DIR (build)] [OUT (runs/isbi)] [EPOCHS (30)] [SEED (0)]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}; out=${2:-runs/isbi}; epochs=${3:-30}; seed=${4:-0}
data=${CUSEG_ISBI:-$(pwd)/../shared/datasets/isbi2012_membrane}
export OMP_WAIT_POLICY=passive   # no spinning when the cores are shared
recipe=(--arch unet_bn --arch-opts in_channels=1,classes=2,width=16,depth=4
        --train bench/isbi/train.txt --val bench/isbi/heldout.txt --root "$data"
        --label-values 0,255 --crop 256 --hflip --vflip
        --optim adam --lr 1e-3 --weight-decay 0 --schedule poly --batch 4 --epochs "$epochs" --threads 2 --seed "$seed")
rm -rf "$out"
start=$(date +%s.%N)
"$build/cuseg" train "${recipe[@]}" --out "$out"
end=$(date +%s.%N)
echo "cuseg: train + per-epoch validation wall time $(echo "$end - $start" | bc) s; held-out metrics: last row of $out/log.csv"
tail -1 "$out/log.csv"
# The same metrics from PyTorch's evaluation of cuseg's final model: both sides scored by one code path.
python3 bench/train_isbi_torch.py --eval "$out/model.safetensors" --data "$data"
python3 bench/train_isbi_torch.py --init "$out/init.safetensors" --data "$data" --epochs "$epochs" --batch 4 --lr 1e-3 --crop 256 --seed "$seed"
