#!/usr/bin/env bash
# Builds the whole tree (tests included; CUDA off: nvcc compiles the device
# code with its own host compiler) with clang's thread-safety analysis as an
# error: every ABSL_GUARDED_BY member is touched only with its mutex held,
# every ABSL_EXCLUSIVE_LOCKS_REQUIRED function is called with it, and no
# ABSL_LOCKS_EXCLUDED function with it. -O0 without debug info: only the
# analysis matters here, and it is the same at every optimisation level.
#
#   bash scripts/check-thread-safety.sh      # into build-clang (or $BUILD_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build-clang}
bash scripts/install-deps.sh clang
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTOKENMETER_WITH_CUDA=OFF \
  -DCMAKE_CXX_FLAGS="-O0 -g0 -Wthread-safety -Werror=thread-safety" >/dev/null
cmake --build "$build_dir" -j "${JOBS:-$(nproc)}"
echo "thread-safety: the tree builds with -Wthread-safety -Werror=thread-safety"
