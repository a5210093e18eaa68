#!/usr/bin/env bash
# Installs the Debian 12 packages tokenmeter builds, tests and runs with,
# and any further packages named as arguments (the clang checks name theirs).
# Idempotent, quiet and non-interactive: a no-op when everything is present.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  prometheus-cpp-dev libmicrohttpd-dev libgloo-dev libopenblas-dev libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  prometheus
  chromium  # headless, for tests/integration/report_chromium_test.cc
  yamllint  # tests/deploy/kubernetes_test.sh
  slurm-wlm munge  # a real Slurm cluster for tests/deploy/slurm_test.sh
  iproute2  # network namespaces for tests/integration/network_namespaces_test.cc
  ocl-icd-opencl-dev opencl-headers libclblast-dev  # the opencl backend (kernels/opencl/)
  pocl-opencl-icd  # an OpenCL device on the CPU, which the opencl backend's tests run on
  hipcc libamdhip64-dev  # the device kernels compiled for AMD GPUs (kernels/rocm/)
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# Prometheus's post-install cannot start a service without systemd; that is harmless.
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
