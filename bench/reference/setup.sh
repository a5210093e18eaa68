#!/usr/bin/env bash
# The reference's one need beyond the main install: PyTorch. On Debian 12,
# python3-torch (1.13, CPU only, on the same OpenBLAS as tokenmeter through
# libblas.so.3). Not part of scripts/install-deps.sh: only this bench uses it.
# GPU machines bring their own PyTorch (bench/device/run-gpu-checks.sh).
set -eu
if python3 -c 'import torch' 2>/dev/null; then
  python3 -c 'import torch; print("torch", torch.__version__, "already installed")'
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch
python3 -c 'import torch; print("torch", torch.__version__)'
