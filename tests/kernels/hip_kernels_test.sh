#!/usr/bin/env bash
# The ROCm port's device kernels, as built (kernels/rocm/): the archive holds
# every launcher the backend calls, and each object's device code bundle holds
# a code object for every AMD target asked for, with the kernels of every
# dtype HIP supports and none for fp8 (kernels/cuda/gpu_runtime.h). A build
# check: nothing here runs on an AMD GPU.
# usage: hip_kernels_test.sh LIBRARY ARCH...
set -euo pipefail
library=$(realpath "$1")
shift
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

symbols=$(nm -C --defined-only "$library")
for launcher in LaunchFillUniform LaunchGemmCheck LaunchCollectiveFill LaunchCollectiveCheck LaunchAxpy; do
  grep -q "tokenmeter::kernels::cuda::$launcher(" <<<"$symbols" || fail "no $launcher in $library"
done

bundler=$(ls /usr/lib/llvm-*/bin/clang-offload-bundler 2>/dev/null | sort -V | tail -1)  # hipcc's LLVM is the newest
[[ -x "$bundler" ]] || fail "no clang-offload-bundler"
cd "$work"
ar x "$library"
for object in *.hip.o; do
  objcopy --dump-section .hip_fatbin="$object.fatbin" "$object" "$object.stripped" ||
    fail "$object has no .hip_fatbin section"
  bundles=$("$bundler" --list --type=o --input="$object.fatbin")
  for arch in "$@"; do
    grep -qx "hipv4-amdgcn-amd-amdhsa--$arch" <<<"$bundles" || fail "$object: no code object for $arch (has: $bundles)"
  done
done
# The GEMM check's kernel for f32, f16 and bf16 (ElemType 0, 1, 2), not fp8 (3).
kernels=$(strings -n 8 reference_gemm.hip.o.fatbin | grep -o 'GemmCheckKernelILNS1_8ElemTypeE[0-9]' | sort -u)
for t in 0 1 2; do grep -q "ElemTypeE$t" <<<"$kernels" || fail "no GEMM check kernel for ElemType $t"; done
if grep -q "ElemTypeE3" <<<"$kernels"; then fail "an fp8 GEMM check kernel was built for HIP"; fi
echo "hip kernels: $(ls *.hip.o | wc -l) objects, targets $*, launchers and dtypes as expected"
