#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU, build cuseg from a clean
# tree, run every test (the CUDA ones included), compute-sanitizer memcheck
# over the CUDA op tests, and the benchmarks; everything goes to one log.
#
#   bash bench/gpu_check.sh --fetch-deps   # on a machine with apt (no GPU needed):
#                                          # downloads the build's Debian packages
#                                          # into .deps/debs for a machine without them
#   bash bench/gpu_check.sh [LOG]          # on the GPU machine
#
# Env: CUSEG_GPU_CHECK_STAGES  space-separated subset of "build test sanitize bench"
#      (default: all). Without ../shared the tests that read its datasets skip.
# The machine needs nvcc, CMake, ninja, a C/C++ compiler and cuDNN, either in
# the system or as the nvidia-cudnn Python wheel (found through python3).
# Libraries it lacks (oneDNN, libpng, libjpeg, cJSON, GoogleTest) come from
# .deps/debs, unpacked into .deps/prefix (never into /); .deps is git-ignored,
# so a machine that receives only the working tree needs it carried along.
# The log goes to $OUT/gpu-check.log when $OUT is set (a lent machine's
# folder that comes back), and gpu_bench.sh's JSON lines beside it.
# Time (estimates, not yet measured): build 3-6 min on 16 cores, tests a few
# minutes, memcheck several minutes (cuDNN under it is slow), bench 5-7 min:
# more than one 10-minute call. Split the stages over calls on one warm
# machine (build-gpu stays there between calls; a stage that finds no build
# builds it first), e.g. "build test", then "sanitize", then "bench".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
debs=(libdnnl-dev libdnnl2 libpng-dev libpng16-16 zlib1g-dev libjpeg-dev libjpeg62-turbo-dev
      libjpeg62-turbo libcjson-dev libcjson1 libgtest-dev)

if [ "${1:-}" = "--fetch-deps" ]; then
    mkdir -p .deps/debs
    (cd .deps/debs && apt-get download "${debs[@]}")
    ls -la .deps/debs
    exit 0
fi

default_log=bench/results/gpu-check-$(date -u +%Y-%m-%d).log
if [ -n "${OUT:-}" ]; then
    default_log=$OUT/gpu-check.log
    export CUSEG_GPU_BENCH_JSON=${CUSEG_GPU_BENCH_JSON:-$OUT/gpu-bench.jsonl}
fi
log=${1:-$default_log}
mkdir -p "$(dirname "$log")"
stages=${CUSEG_GPU_CHECK_STAGES:-build test sanitize bench}
exec > >(tee "$log") 2>&1
tee_pid=$!
# Let tee write the last lines before the script's end (or set -e's) returns.
trap 'exec >&- 2>&-; wait "$tee_pid" 2>/dev/null || true' EXIT
has() { [[ " $stages " == *" $1 "* ]]; }

echo "== cuseg GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit ${CUSEG_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
    export PATH="/usr/local/cuda/bin:$PATH"
fi
nvcc --version | tail -1 || echo "nvcc: not found"

# Libraries missing on this machine: unpack the carried .debs into a prefix.
prefix=$root/.deps/prefix
if [ -d .deps/debs ] && ! [ -f "$prefix/.done" ]; then
    mkdir -p "$prefix"
    for f in .deps/debs/*.deb; do dpkg -x "$f" "$prefix"; done
    touch "$prefix/.done"
fi
arch_dir=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
if [ -d "$prefix/usr" ]; then
    export CMAKE_PREFIX_PATH="$prefix/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
    export CPATH="$prefix/usr/include:$prefix/usr/include/$arch_dir${CPATH:+:$CPATH}"
    export LIBRARY_PATH="$prefix/usr/lib/$arch_dir${LIBRARY_PATH:+:$LIBRARY_PATH}"
    export LD_LIBRARY_PATH="$prefix/usr/lib/$arch_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

# cuDNN: the system's, else the Python wheel's.
cmake_extra=()
if ! [ -e /usr/include/cudnn.h ] && ! [ -e /usr/local/cuda/include/cudnn.h ]; then
    cudnn_root=$(python3 -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null || true)
    if [ -n "$cudnn_root" ]; then
        echo "cuDNN from the Python wheel: $cudnn_root"
        cmake_extra+=(-DCUDNN_ROOT="$cudnn_root")
        export LD_LIBRARY_PATH="$cudnn_root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    fi
fi
# cuBLAS likewise, when the toolkit has none.
if ! ls /usr/local/cuda/lib64/libcublas.so* >/dev/null 2>&1; then
    cublas_lib=$(python3 -c 'import nvidia.cublas as m; print(list(m.__path__)[0])' 2>/dev/null || true)
    [ -n "$cublas_lib" ] && export LD_LIBRARY_PATH="$cublas_lib/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

jobs=$(nproc)
if has build || ! [ -x build-gpu/tests/cuseg_tests ]; then
    has build || echo "== no build-gpu here: building it first"
    echo "== build (clean, Release, warnings are errors, CUDA required)"
    rm -rf build-gpu
    cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCUSEG_WERROR=ON -DCUSEG_CUDA=ON \
        "${cmake_extra[@]}"
    cmake --build build-gpu -j "$jobs"
fi
status=0
if has test; then
    echo "== tests (all, CUDA included)"
    ctest --test-dir build-gpu --output-on-failure -j 4 || status=1
    echo "== CUDA tests, verbose"
    ./build-gpu/tests/cuseg_tests --gtest_filter='*Cuda*' --gtest_brief=1 || status=1
fi
if has sanitize; then
    echo "== compute-sanitizer memcheck over the CUDA op, session, CRF and training tests (the deliberate out-of-memory test is left out: memcheck reports its failed cudaMalloc)"
    compute-sanitizer --tool memcheck --error-exitcode 1 --print-limit 20 \
        ./build-gpu/tests/cuseg_tests --gtest_filter='*CudaOps*:CudaSession*:CudaCrf*:CudaTrain*:-CudaSession.OutOfMemory*' --gtest_brief=1 || status=1
    echo "== compute-sanitizer memcheck over cuseg-bench's GPU timing paths (host to host, device events, device-resident runs)"
    compute-sanitizer --tool memcheck --error-exitcode 1 --print-limit 20 \
        ./build-gpu/bench/cuseg-bench --device cuda:0 --precision fp32,bf16 --model "unet_bn:width=8+depth=2" \
        --size 64x96 --batch 2 --warmup 1 --iters 2 --min-time 0 --no-peak || status=1
fi
if has bench; then
    echo "== benchmarks"
    if [ -x build-gpu/bench/cuseg-bench ]; then
        echo "== cuseg-bench on the GPU, small: every precision's GEMM peak, the three timings, a bf16 logits check"
        ./build-gpu/bench/cuseg-bench --device cuda:0 --precision fp32,tf32,bf16,fp16 --model "unet_bn:width=16" \
            --size 128x128 --batch 2 --iters 3 --min-time 0 || status=1
        ./build-gpu/bench/cuseg-bench --device cuda:0 --precision bf16 --model "deeplab_v1:classes=5+width=4" \
            --weights tests/golden/vgg/deeplab_v1.model.safetensors \
            --check tests/golden/vgg/deeplab_v1.io.safetensors || status=1
        bash bench/gpu_bench.sh build-gpu || status=1
    else
        echo "no build-gpu/bench/cuseg-bench (CUSEG_BUILD_BENCH=OFF?): benchmarks not run"
        status=1
    fi
fi
echo "== done: $([ $status -eq 0 ] && echo PASS || echo FAIL)"
exit $status
