#!/usr/bin/env bash
# README's first command: installs what the build needs, builds, and runs a
# real local benchmark — a coordinator and two worker processes on this
# machine, talking gRPC on loopback — ending in the result tables.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
# The CPU has no catalogue price; give one to see the cost figures.
exec ./build/cli/tokenmeter run --local --workers 2 \
  --workload gemm --workload collective/all-reduce --workload train-step/tiny \
  --price-per-device-hour "${PRICE_PER_DEVICE_HOUR:-0.05}" "$@"
