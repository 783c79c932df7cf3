#!/usr/bin/env bash
# The main job on a fresh machine, in one command: installs what is missing,
# builds cuseg, and segments the bundled sample images with the bundled
# default model (models/default) on the CPU. Masks, colour masks and overlays
# go to out/samples, mirroring the input tree.
# Usage: bash examples/segment_samples.sh [extra `cuseg segment` options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install_deps.sh
# The demo runs on the CPU: without a GPU, skip compiling the CUDA kernels
# (minutes of nvcc on a small machine); build only the command-line tool.
cuda=OFF
nvidia-smi -L >/dev/null 2>&1 && cuda=AUTO
cmake -S . -B build-demo -G Ninja -DCMAKE_BUILD_TYPE=Release -DCUSEG_CUDA=$cuda \
    -DCUSEG_BUILD_TESTS=OFF -DCUSEG_BUILD_BENCH=OFF >/dev/null
cmake --build build-demo --target cuseg_cli
build-demo/cuseg segment -m models/default/default.safetensors -i models/default/samples/images \
    -o out/samples --palette --overlay --device cpu "$@"
echo "masks in out/samples; compare with the labels: build-demo/cuseg eval --pred out/samples --gt models/default/samples/labels --classes 5"
