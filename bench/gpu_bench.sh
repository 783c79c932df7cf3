#!/usr/bin/env bash
# GPU benchmarks (run by bench/gpu_check.sh, or alone with a build dir):
# whole models, cuseg vs PyTorch on the same GPU in one invocation, per
# precision. Usage: bash bench/gpu_bench.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-gpu}
models=${CUSEG_GPU_BENCH_MODELS:-unet_bn,smp_deeplabv3plus,tv_deeplabv3,fcn8s,deeplab_v1}
for precision in ${CUSEG_GPU_BENCH_PRECISIONS:-fp32 bf16}; do
    echo "== cuseg vs PyTorch, $precision"
    python3 bench/compare_torch.py --device cuda --precision "$precision" --models "$models" \
        --batch 1,8 --size 512x512 --iters 10 --min-time 1 --build "$build"
done
