#!/usr/bin/env bash
# The one command that sets up a fresh machine and runs cuseg's test suite:
# installs missing Debian packages, configures (warnings are errors), builds,
# runs every CTest test, then the unit tests again under ASan+UBSan.
# Usage: bash tests/run.sh            (from anywhere)
# Env:   CUSEG_SKIP_SANITIZE=1  skips the sanitizer pass.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake ninja-build g++ pkg-config libdnnl-dev libpng-dev libgtest-dev libcjson-dev libjpeg-dev)
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

jobs=$(nproc)
echo "== build (Release, warnings are errors)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCUSEG_WERROR=ON
cmake --build build -j "$jobs"
echo "== tests"
ctest --test-dir build --output-on-failure -j "$jobs"

if [ "${CUSEG_SKIP_SANITIZE:-0}" != "1" ]; then
    echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer"
    cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCUSEG_SANITIZE=ON \
        -DCUSEG_CUDA=OFF -DCUSEG_BUILD_BENCH=OFF -DCUSEG_WERROR=ON
    cmake --build build-asan -j "$jobs"
    # Whole-model goldens (label "models") are left out: they exercise the
    # same op code as the unit suites, at 10-30x the cost under the sanitizers.
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE models
fi
