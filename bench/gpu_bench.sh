#!/usr/bin/env bash
# GPU benchmarks (run by bench/gpu_check.sh, or alone with a build dir);
# the defaults should take about 5 minutes of an H100 (an estimate: not yet run).
#
# 1. The issue's target configuration: bf16, batch 16, 512x512; U-Net
#    (milesial), FCN-8s, DeepLab v1 LargeFOV, DeepLab v3+ ResNet-50. cuseg
#    against PyTorch eager (model and input cast to bf16, channels_last) and
#    PyTorch autocast, with the same weights on both sides, whose logits are
#    checked first (bench/compare_torch.py --check: small input, PyTorch
#    float32 on the CPU vs cuseg on the GPU in the precision). Every side is
#    timed host to host (float32 host input in, outputs back in host memory:
#    cuseg_session_run) and device-resident (input already on the GPU,
#    outputs left there, CUDA events). ONNX Runtime (CUDA EP, io binding)
#    joins for fp32/tf32/fp16 when onnxruntime-gpu is installed.
# 2. A summary against the targets: >= 1.5x PyTorch eager bf16 (judged on the
#    device-resident ratio, where both sides do the same work; the
#    host-to-host ratio is printed beside it) and >= 40% of the measured bf16
#    cuBLAS GEMM peak (cuseg's device-resident GMAC/s) for U-Net and FCN-8s.
# 3. cuseg-bench alone on the same configuration: latency percentiles, the
#    three cuseg timings side by side, device memory.
#
# Usage: bash bench/gpu_bench.sh [BUILD_DIR]
# Env: CUSEG_GPU_BENCH_MODELS, CUSEG_GPU_BENCH_BATCHES (16),
#      CUSEG_GPU_BENCH_PRECISIONS ("bf16"; e.g. "bf16 fp16 fp32": each adds
#      about 3-4 minutes), CUSEG_GPU_BENCH_JSON (the JSON lines file, default
#      $OUT/gpu-bench.jsonl when $OUT is set, else BUILD_DIR/gpu-bench.jsonl,
#      appended to), CUSEG_GPU_BENCH_TABLE=0 skips step 3.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-gpu}
models=${CUSEG_GPU_BENCH_MODELS:-unet_bn,fcn8s,deeplab_v1,deeplabv3plus:backbone=resnet50}
batches=${CUSEG_GPU_BENCH_BATCHES:-16}
precisions=${CUSEG_GPU_BENCH_PRECISIONS:-bf16}
jsonl=${CUSEG_GPU_BENCH_JSON:-${OUT:+$OUT/gpu-bench.jsonl}}  # $OUT: a lent machine's folder that comes back
jsonl=${jsonl:-$build/gpu-bench.jsonl}
status=0

for precision in $precisions; do
    echo "== cuseg vs PyTorch (and ONNX Runtime), $precision, batch $batches, 512x512, same weights"
    python3 bench/compare_torch.py --device cuda --precision "$precision" --models "$models" \
        --batch "$batches" --size 512x512 --iters 10 --min-time 1 --build "$build" \
        --check --check-size 2x65x97 --json-out "$jsonl" || status=1
done

echo "== against the targets (issue 9), from $jsonl"
python3 - "$jsonl" <<'EOF' || status=1
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
rows = [r for r in rows if r.get("device") == "cuda"]
latest = {}
for r in rows:  # the last record of each configuration (the file is appended to)
    latest[(r["model"], r["precision"], r["batch"], r["size"])] = r


def fmt(v, spec=".2f"):
    return "n/a" if v is None or v < 0 else format(v, spec)


print("| model | precision | batch | check | cuseg dev ms | PyTorch dev ms | dev ratio | host-to-host ratio "
      "| % of GEMM peak (dev) | targets |")
print("|---|---|---:|---|---:|---:|---:|---:|---:|---|")
for (model, prec, batch, size), r in latest.items():
    ratio, frac = r.get("torch_dev_ratio"), r.get("cuseg_dev_peak_frac")
    verdict = []
    target = prec == "bf16" and batch == 16 and size == "512x512"
    if target:
        verdict.append("ratio " + ("n/a" if ratio is None else "met" if ratio >= 1.5 else "MISSED") + " (>= 1.5)")
        if model in ("unet_bn", "fcn8s"):
            verdict.append("peak " + ("n/a" if frac is None or frac < 0 else "met" if frac >= 0.40 else "MISSED")
                           + " (>= 40%)")
    check = {True: "OK", False: "FAIL"}.get(r.get("check_pass"), "-")
    print(f"| {model} | {prec} | {batch} | {check} | {fmt(r.get('cuseg_dev_ms'))} | {fmt(r.get('torch_dev_ms'))} "
          f"| {fmt(ratio)} | {fmt(r.get('torch_ratio'))} "
          f"| {'n/a' if frac is None or frac < 0 else f'{100 * frac:.1f}%'} | {'; '.join(verdict) or '-'} |")
EOF

if [ "${CUSEG_GPU_BENCH_TABLE:-1}" != "0" ]; then
    echo "== cuseg-bench: percentiles, host-to-host / device / device-resident times, device memory"
    "$build/bench/cuseg-bench" --device cuda:0 --precision "$(echo "$precisions" | tr ' ' ',')" --search \
        --model "$models" --batch "$batches" --size 512x512 --iters 10 --min-time 1 || status=1
fi
exit $status
