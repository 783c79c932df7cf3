#!/usr/bin/env bash
# Installs the Debian packages cuseg builds with, where missing (used by
# tests/run.sh and examples/segment_samples.sh). CUDA, cuDNN and cuBLAS are
# optional: the CUDA backend is built when nvcc and cuDNN are found.
set -euo pipefail
packages=(cmake ninja-build g++ pkg-config libdnnl-dev libpng-dev libgtest-dev libcjson-dev libjpeg-dev libcpp-httplib-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
