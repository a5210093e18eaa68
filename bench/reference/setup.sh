#!/usr/bin/env bash
# The reference's one need beyond the main install: PyTorch. On Debian 12,
# python3-torch (1.13, CPU only, on the same OpenBLAS as tokenmeter through
# libblas.so.3). Not part of scripts/install-deps.sh: only this bench uses it.
# GPU machines bring their own PyTorch (bench/device/run-gpu-checks.sh).
set -eu
# Debian's package goes to Debian's interpreter; a python3 earlier on PATH
# (pyenv, a venv) does not see it, so that is the one checked.
DEBIAN_PYTHON=/usr/bin/python3
if "$DEBIAN_PYTHON" -c 'import torch' 2>/dev/null; then
  "$DEBIAN_PYTHON" -c 'import torch; print("torch", torch.__version__, "already installed")'
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch
"$DEBIAN_PYTHON" -c 'import torch; print("torch", torch.__version__, "for", "'"$DEBIAN_PYTHON"'")'
