#!/usr/bin/env bash
# README's second command: installs what the build needs, builds, and runs
# every test (unit and multi-process integration) with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "${JOBS:-$(nproc)}"
