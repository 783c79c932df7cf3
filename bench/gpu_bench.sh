#!/usr/bin/env bash
# GPU benchmarks (run by bench/gpu_check.sh, or alone with a build dir):
# whole models, cuseg vs PyTorch on the same GPU in one invocation, per
# precision (PyTorch: the cast model, and for bf16/fp16 also autocast), then
# cuseg-bench alone for latency percentiles and device memory.
# A timed run includes the host->device input copy and the device->host
# output copy on both sides (cuseg_session_run's contract).
# Usage: bash bench/gpu_bench.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-gpu}
models=${CUSEG_GPU_BENCH_MODELS:-unet_bn,fcn8s,deeplab_v1,deeplabv3plus:backbone=resnet50,smp_deeplabv3plus,tv_deeplabv3}
batches=${CUSEG_GPU_BENCH_BATCHES:-1,16}
precisions=${CUSEG_GPU_BENCH_PRECISIONS:-fp32 bf16}
for precision in $precisions; do
    echo "== cuseg vs PyTorch, $precision"
    python3 bench/compare_torch.py --device cuda --precision "$precision" --models "$models" \
        --batch "$batches" --size 512x512 --iters 10 --min-time 1 --build "$build"
done
echo "== cuseg-bench: percentiles and device memory"
"$build/bench/cuseg-bench" --device cuda:0 --precision "$(echo $precisions | tr ' ' ',')" --search \
    --model "$models" --batch "$batches" --size 512x512 --iters 10 --min-time 1
