#!/usr/bin/env bash
# Run HERE (the build machine, no GPU): gathers what the GPU machine needs into
# build-device/ (ignored by git, carried with `carry: ["build-device"]`):
#   build-device/bin/   cuda_backend_test, cuda_step_test, tokenmeter_gpu_sweep (debug info stripped)
#   build-device/lib/   the Debian shared libraries they need that the GPU
#                       machine's image lacks (abseil; anything else ldd lists
#                       outside glibc, libstdc++ and CUDA's own libraries)
#   build-device/harness.tar.xz  the whole harness: bin/tokenmeter, the CUDA
#                       plugin lib/libtokenmeter-cuda.so, and the further
#                       libraries they need (gRPC, protobuf, SQLite, Gloo,
#                       OpenBLAS, prometheus-cpp...); xz because OpenBLAS alone
#                       is 36 MiB. run-gpu-checks.sh unpacks it with Python's
#                       tarfile into build-device/ there.
#   build-device/lib-fallback/  libstdc++/libgcc_s, used there only if the
#                       image's own are too old for these binaries
#   build-device/MANIFEST  sizes, GLIBC/GLIBCXX needs, source commit
# CUDA's libraries (cudart, cuBLASLt, NCCL: hundreds of MiB) are NOT carried:
# run-gpu-checks.sh finds the GPU machine's own.
#
# Usage: bench/device/prepare.sh [BUILD_DIR]   (default build-cuda; builds the
#        five targets there first unless TOKENMETER_SKIP_BUILD=1)
set -u -o pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${1:-$ROOT/build-cuda}"
DEST="$ROOT/build-device"
LIMIT_MIB=60

if [[ "${TOKENMETER_SKIP_BUILD:-0}" != 1 ]]; then
  if [[ ! -f "$BUILD/build.ninja" && ! -f "$BUILD/Makefile" ]]; then
    cmake -S "$ROOT" -B "$BUILD" -G Ninja -DTOKENMETER_WITH_CUDA=ON || exit 1
  fi
  cmake --build "$BUILD" --target cuda_backend_test cuda_step_test tokenmeter_gpu_sweep tokenmeter \
    tokenmeter_cuda_plugin -j"$(nproc)" || {
    echo "prepare: build failed (set TOKENMETER_SKIP_BUILD=1 to package existing binaries)" >&2
    exit 1
  }
fi

BINS=("$BUILD/tests/gpu/cuda_backend_test" "$BUILD/tests/gpu/cuda_step_test"
      "$BUILD/kernels/cuda/tokenmeter_gpu_sweep")
HARNESS="$BUILD/cli/tokenmeter"
PLUGIN="$BUILD/plugins/libtokenmeter-cuda.so"
for b in "${BINS[@]}" "$HARNESS" "$PLUGIN"; do
  [[ -e "$b" ]] || { echo "prepare: missing $b" >&2; exit 1; }
done

rm -rf "$DEST"
mkdir -p "$DEST/bin" "$DEST/lib" "$DEST/lib-fallback"
for b in "${BINS[@]}"; do
  strip --strip-debug -o "$DEST/bin/$(basename "$b")" "$b" || exit 1
done
# A library missing here would only show on the GPU machine: stop now.
for b in "${BINS[@]}" "$HARNESS" "$PLUGIN"; do
  if ldd "$b" | grep -v -E 'lib(cuda|nvidia-ml)\.so' | grep -q 'not found'; then
    echo "prepare: $b needs libraries not found here:" >&2
    ldd "$b" | grep 'not found' >&2
    exit 1
  fi
done

# Shared libraries to carry: what ldd resolves, minus the C library, the C++
# runtime (handled below), the dynamic loader, and CUDA's own libraries.
skip_re='/(libc|libm|libdl|libpthread|librt|ld-linux-x86-64|libstdc\+\+|libgcc_s|libcudart|libcublas|libcublasLt|libnccl|libcuda|libnvidia-ml)\.so'
# copy_deps DIR FILE...: copies into DIR every library FILE... need, and what
# those need in turn, except skip_re's and those $DEST/lib already holds.
copy_deps() {
  local dir="$1" f lib base
  shift
  local queue=("$@")
  while (( ${#queue[@]} )); do
    local next=()
    for f in "${queue[@]}"; do
      while read -r lib; do
        [[ "$lib" =~ $skip_re ]] && continue
        base="$(basename "$lib")"
        [[ -e "$DEST/lib/$base" || -e "$dir/$base" ]] && continue
        cp -L "$lib" "$dir/" && next+=("$dir/$base")
      done < <(ldd "$f" | awk '/=> \// {print $3}')
    done
    queue=("${next[@]}")
  done
}
copy_deps "$DEST/lib" "${BINS[@]}"

# The harness (the CLI that runs coordinator and workers, and its CUDA
# plugin, found there as bin/../lib/libtokenmeter-cuda.so), compressed.
stage="$(mktemp -d /tmp/tokenmeter-harness-XXXXXX)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
strip --strip-debug -o "$stage/bin/tokenmeter" "$HARNESS" || exit 1
strip --strip-debug -o "$stage/lib/libtokenmeter-cuda.so" "$PLUGIN" || exit 1
copy_deps "$stage/lib" "$stage/bin/tokenmeter" "$stage/lib/libtokenmeter-cuda.so"
tar -C "$stage" -cf - bin lib | xz -T"$(nproc)" -6 > "$DEST/harness.tar.xz" || exit 1
cp -L /lib/x86_64-linux-gnu/libstdc++.so.6 /lib/x86_64-linux-gnu/libgcc_s.so.1 "$DEST/lib-fallback/"


{
  echo "built: $(date -u +%FT%TZ) from $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+dirty')"
  echo "glibc needed: $(objdump -T "$DEST"/bin/* "$DEST"/lib/*.so* "$stage"/bin/* "$stage"/lib/*.so* 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)"
  echo "libstdc++ needed: $(objdump -T "$DEST"/bin/* "$DEST"/lib/*.so* "$stage"/bin/* "$stage"/lib/*.so* 2>/dev/null | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -1)"
  echo "nccl built against: $(grep -m1 -o 'NCCL_VERSION_CODE [0-9]*' /usr/local/cuda/include/nccl.h)"
  echo "needs on the GPU machine: libcudart.so.13 libcublasLt.so.13 libnccl.so.2 (found there by run-gpu-checks.sh)"
  du -ab "$DEST" | sort -k2
  echo "harness.tar.xz holds:"
  du -ab "$stage" | sort -k2
} > "$DEST/MANIFEST"

total_mib=$(( $(du -sb "$DEST" | cut -f1) / 1048576 ))
echo "prepare: $DEST is ${total_mib} MiB ($(ls "$DEST/lib" | wc -l) libraries)"
cat "$DEST/MANIFEST" | head -5
if (( total_mib > LIMIT_MIB )); then
  echo "prepare: over ${LIMIT_MIB} MiB; the carry limit is 64 MiB with the tree" >&2
  exit 1
fi
