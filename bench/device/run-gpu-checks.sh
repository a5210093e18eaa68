#!/usr/bin/env bash
# Run THERE (the GPU machine) from the repository root, after HERE ran
# bench/device/prepare.sh and build-device/ was carried:
#   run: command "bash bench/device/run-gpu-checks.sh", carry ["build-device"]
# Every step logs and carries on when it fails; the whole run ends within
# TM_BUDGET_S seconds (default 450: under 8 minutes, leaving a 15-minute lease
# room for a second, partial run). Run again with step names to redo only
# those: bash bench/device/run-gpu-checks.sh harness torch
#   steps: tests step-tests harness gemm torch collectives reference (default:
#   all, in this order: the main job right after the tests that vouch for it)
# Results under $OUT (./out-gpu when unset), never more than 8 files (what the
# device tool brings back):
#   $OUT/run.log          everything printed
#   $OUT/gpu-tests.xml    GoogleTest results of tests/gpu/cuda_backend_test
#   $OUT/step-tests.xml   GoogleTest results of tests/gpu/cuda_step_test (Backend::RunStep)
#   $OUT/sweep-gemm.jsonl tokenmeter_gpu_sweep's GEMM results (algorithm and split-K per shape)
#   $OUT/torch.jsonl      torch.matmul on the same shapes
#   $OUT/harness.jsonl    the whole harness's results: `tokenmeter run --local
#                         --backend cuda` (coordinator + worker over gRPC) of
#                         the standard gemm/large, all-reduce and train-step
#                         workloads, as `tokenmeter results --json` prints them
#   $OUT/sweep-coll.jsonl tokenmeter_gpu_sweep's collective sweep (8 B - 1 GiB)
#   $OUT/reference.jsonl  bench/reference on the GPU: per spec (llama3-8b's shape
#                         at 4 layers, bf16, eager and fused) tokenmeter's job
#                         line and the PyTorch step's result, one JSON per line
# The side-by-side tables (tokenmeter vs torch.matmul, tokenmeter vs the
# PyTorch step) are printed into run.log.
set -u
ROOT="$(pwd)"
DEV="$ROOT/build-device"
OUT="${OUT:-$ROOT/out-gpu}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1
START=$(date +%s)
DEADLINE=$(( START + ${TM_BUDGET_S:-450} ))
STEPS="${*:-all}"
for s in $STEPS; do
  case "$s" in
    all|tests|step-tests|harness|gemm|torch|collectives|reference) ;;
    *) echo "unknown step '$s' (steps: tests step-tests harness gemm torch collectives reference)"; exit 2 ;;
  esac
done
want() { [[ " $STEPS " == *" all "* || " $STEPS " == *" $1 "* ]]; }
# cap SECONDS: the step's own limit, cut to what is left of the run's budget.
cap() {
  local left=$(( DEADLINE - $(date +%s) ))
  (( left < $1 )) && echo "$left" || echo "$1"
}
# run_capped SECONDS WHAT COMMAND...: runs COMMAND under timeout, or says it
# was skipped because the budget is spent.
run_capped() {
  local limit what="$2"
  limit="$(cap "$1")"
  shift 2
  if (( limit < 10 )); then echo "SKIPPED $what: the run's budget is spent"; return 0; fi
  # -k: a process that ignores SIGTERM (or takes long over it) is killed 20 s later.
  timeout -k 20 "$limit" "$@" || echo "$what exited with $? (limit ${limit}s)"
}
# Load every kernel module at context creation. With lazy loading (CUDA's
# default since 12.2) a kernel's first launch may need the context to
# synchronise, which can deadlock against an overlapped NCCL kernel waiting
# for a peer (CUDA programming guide, Lazy Loading). cuda_step.cc avoids that
# itself; this is the belt to its braces for multi-GPU overlap, and harmless
# on one GPU (a slower start only).
export CUDA_MODULE_LOADING=EAGER
step() { echo; echo "=== [$(( $(date +%s) - START ))s] $*"; }

# The shapes: square bf16 ceilings and transformer GEMMs (Llama-3 70B MLP
# up/gate and down projections, Llama-3 8B MLP), plus other dtypes at 8192^3.
GEMM_SHAPES="4096x4096x4096,8192x8192x8192,16384x16384x16384,8192x28672x8192,8192x8192x28672,4096x14336x4096"
GEMM_SHAPES="$GEMM_SHAPES,8192x8192x8192:fp16,8192x8192x8192:fp8_e4m3,8192x8192x8192:tf32,4096x4096x4096:fp32"
TORCH_SHAPES="$(echo "$GEMM_SHAPES" | tr ',' '\n' | sed '/:/!s/$/:bf16/' | paste -sd, -)"

step "machine"
nvidia-smi || echo "nvidia-smi failed"
nvidia-smi --query-gpu=name,uuid,driver_version,memory.total,power.limit,clocks.max.sm --format=csv || true
nproc; free -g | head -2; df -h . | tail -1
ls -la "$DEV" "$DEV/bin" 2>&1 | head -20
cat "$DEV/MANIFEST" 2>/dev/null | head -6

step "finding CUDA libraries (cudart 13, cuBLASLt 13, NCCL 2) for the carried binaries"
ldconfig -p | grep -E 'libcudart|libcublas|libnccl|libnvidia-ml' || echo "(none in ldconfig)"
PY_SITES="$(python3 - <<'PY' 2>/dev/null
import site, sys
dirs = set(site.getsitepackages() + [site.getusersitepackages()])
try:
    import torch, os
    dirs.add(os.path.dirname(os.path.dirname(torch.__file__)))
    print("torch", torch.__version__, "cuda", torch.version.cuda, "nccl", torch.cuda.nccl.version(), file=sys.stderr)
except Exception as e:
    print("torch import failed:", e, file=sys.stderr)
print("\n".join(d for d in dirs))
PY
)"
find_lib() {  # prints the directory of the first $1 found
  local name="$1" d
  for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib; do
    [[ -e "$d/$name" ]] && { echo "$d"; return; }
  done
  local hit
  hit="$(ldconfig -p | awk -v n="$name" '$1 == n {print $NF; exit}')"
  [[ -n "$hit" ]] && { dirname "$hit"; return; }
  for d in $PY_SITES; do
    [[ -d "$d/nvidia" ]] || continue
    hit="$(find "$d/nvidia" -name "$name" 2>/dev/null | head -1)"
    [[ -n "$hit" ]] && { dirname "$hit"; return; }
  done
}
LIBDIRS="$DEV/lib"
for lib in libcudart.so.13 libcublasLt.so.13 libcublas.so.13 libnccl.so.2; do
  d="$(find_lib "$lib")"
  echo "$lib -> ${d:-NOT FOUND}"
  [[ -n "$d" && ":$LIBDIRS:" != *":$d:"* ]] && LIBDIRS="$LIBDIRS:$d"
done
export LD_LIBRARY_PATH="$LIBDIRS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The harness: unpacked once beside the other binaries.
if [[ -f "$DEV/harness.tar.xz" && ! -x "$DEV/bin/tokenmeter" ]]; then
  python3 - "$DEV/harness.tar.xz" "$DEV" <<'PY' || echo "could not unpack harness.tar.xz"
import sys, tarfile
with tarfile.open(sys.argv[1]) as archive:
    try:
        archive.extractall(sys.argv[2], filter="tar")
    except TypeError:  # Python before 3.11.4 has no filter
        archive.extractall(sys.argv[2])
PY
fi
if ldd "$DEV/bin/cuda_backend_test" "$DEV/bin/tokenmeter" 2>&1 | grep -qE 'not found|version .* not found'; then
  echo "some libraries missing or too old; adding lib-fallback (Debian's libstdc++/libgcc_s)"
  export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$DEV/lib-fallback"
fi
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
ldd "$DEV/bin/cuda_backend_test" | grep -vE 'libabsl' || true
ldd "$DEV/bin/cuda_backend_test" "$DEV/bin/tokenmeter" "$DEV/lib/libtokenmeter-cuda.so" | grep -E 'not found' \
  && echo "WARNING: unresolved libraries above"

if want tests; then
  step "GPU tests (cuda_backend_test)"
  # The missing-peer test aborts a half-initialised NCCL communicator: run it on
  # its own, so that if NCCL's abort ever hung, the other results still land.
  run_capped 120 cuda_backend_test "$DEV/bin/cuda_backend_test" --gtest_filter='-*MissingPeer*' \
    --gtest_output="xml:$OUT/gpu-tests.xml"
  run_capped 30 "cuda_backend_test (missing peer)" "$DEV/bin/cuda_backend_test" \
    --gtest_filter='*MissingPeer*'
fi

if want step-tests; then
  step "training-step tests (cuda_step_test), overlapped gradient sync included"
  run_capped 90 cuda_step_test "$DEV/bin/cuda_step_test" --gtest_output="xml:$OUT/step-tests.xml"
fi

if want harness; then
  # The main job, on the GPU: the CLI starts a coordinator and one worker
  # (cuda backend, every GPU) as processes talking gRPC on loopback, runs the
  # standard workloads and prints its tables (GEMM TFLOP/s and MAMF, busbw,
  # then tokens/s, MFU against the datasheet and against MAMF, joules and
  # dollars per million tokens at the catalogue's H200 price). gemm/large,
  # not gemm (fp32 only, CPU-sized): the train step's MFU against MAMF takes
  # the best GEMM of its own dtype (bf16) stored for the setup. Of the model
  # presets only llama3-8b fits one GPU's memory (its check asks 130 GiB for
  # bf16 weights and gradients, fp32 Adam state and activations; 70B asks
  # over 1 TiB and would be refused, naming the bound).
  step "the harness end to end: tokenmeter run --local --backend cuda, standard workloads"
  rm -f /tmp/tokenmeter-device.db /tmp/tokenmeter-device.db-wal /tmp/tokenmeter-device.db-shm
  # CUDA's default (lazy) module loading, as a real deployment runs: eager
  # loading of cuBLASLt and NCCL would only slow the workers' start.
  run_capped 200 "tokenmeter run" env CUDA_MODULE_LOADING=LAZY \
    "$DEV/bin/tokenmeter" run --local --workers 1 --backend cuda \
    --store /tmp/tokenmeter-device.db --workload gemm/large --workload collective/all-reduce \
    --workload train-step/llama3-8b
  if [[ -f /tmp/tokenmeter-device.db ]]; then
    run_capped 30 "tokenmeter results" "$DEV/bin/tokenmeter" results \
      --store /tmp/tokenmeter-device.db --detail --json > "$OUT/harness.jsonl"
  fi
fi

if want gemm; then
  step "GEMM sweep through tokenmeter's cuda backend"
  run_capped 100 "gpu_sweep (gemm)" "$DEV/bin/tokenmeter_gpu_sweep" --no-collectives \
    --gemm "$GEMM_SHAPES" --gemm-warmup 10 --gemm-timed 30 --jsonl "$OUT/sweep-gemm.jsonl"
fi

if want torch; then
  step "torch.matmul on the same shapes, same run"
  run_capped 80 torch_matmul python3 "$ROOT/bench/device/torch_matmul.py" "$TORCH_SHAPES" \
    --warmup 10 --timed 30 --jsonl "$OUT/torch.jsonl"
fi


if want collectives; then
  step "collective sweep (one rank per GPU; 1 GPU gives world size 1)"
  run_capped 60 "gpu_sweep (collectives)" "$DEV/bin/tokenmeter_gpu_sweep" --no-gemm \
    --coll-dtype bf16 --min-bytes 8 --max-bytes $((1 << 30)) --coll-warmup 5 --coll-timed 20 \
    --jsonl "$OUT/sweep-coll.jsonl"
fi

step "tokenmeter vs torch"
python3 - "$OUT" <<'PY' || true
import json, os, sys
out = sys.argv[1]
def load(name):
    p = os.path.join(out, name)
    return [json.loads(l) for l in open(p)] if os.path.exists(p) else []
tm = {(r["dtype"], r["m"], r["n"], r["k"]): r for r in load("sweep-gemm.jsonl") if r.get("kind") == "gemm"}
th = {(r["dtype"], r["m"], r["n"], r["k"]): r for r in load("torch.jsonl")}
print(f"#{'dtype':>9} {'m':>6} {'n':>6} {'k':>6} {'tokenmeter':>11} {'torch':>8} {'ratio':>6}  (median TFLOP/s)")
for key in sorted(set(tm) | set(th), key=lambda k: (k[0], k[1] * k[2] * k[3])):
    a = tm.get(key, {}).get("tflops"); b = th.get(key, {}).get("tflops")
    ratio = f"{a / b:6.2f}" if a and b else "     -"
    print(f" {key[0]:>9} {key[1]:>6} {key[2]:>6} {key[3]:>6} {a or 0:11.1f} {b or 0:8.1f} {ratio}")
PY

if want reference; then
  # The train step against a real PyTorch step of the same spec (bench/reference):
  # llama3-8b's widths at 4 layers (the whole model, so nothing is scaled), bf16,
  # eager (autocast, materialised scores) and fused (torch.compile, SDPA, fused
  # AdamW). tokenmeter runs first, then PyTorch: they never share the GPU.
  step "train step vs PyTorch (bench/reference), llama3-8b widths at 4 layers, bf16"
  for profile in eager fused; do
    run_capped 150 "reference ($profile)" env TOKENMETER="$DEV/bin/tokenmeter" PYTHON=python3 \
      OUTDIR=/tmp/tm-reference REF_ARGS="--warmup 3 --timed 10 --profiled 3" \
      bash "$ROOT/bench/reference/compare.sh" --backend cuda \
      "$ROOT/bench/reference/specs/llama3-8b-l4-$profile.json"
    d=/tmp/tm-reference/llama3-8b-l4-$profile
    [[ -f $d/tokenmeter.jsonl ]] && cat "$d/tokenmeter.jsonl" >> "$OUT/reference.jsonl"
    [[ -f $d/reference.json ]] && python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))))' \
      "$d/reference.json" >> "$OUT/reference.jsonl"
  done
fi

step "done in $(( $(date +%s) - START ))s; files in $OUT"
ls -la "$OUT"
