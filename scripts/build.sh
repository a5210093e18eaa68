#!/usr/bin/env bash
# Configures and builds tokenmeter into build/ (or $BUILD_DIR). Extra
# arguments go to CMake's configure step, e.g. -DTOKENMETER_WITH_CUDA=OFF.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build_dir" -j "$jobs"
