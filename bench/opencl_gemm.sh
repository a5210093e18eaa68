#!/usr/bin/env bash
# Does the opencl backend add overhead to what it measures? tokenmeter's
# opencl GEMM (run --local --backend opencl) against the same CLBlast call in
# a bare loop (bench/opencl/bare_clblast_gemm.cc), same shapes, same device,
# timed the same way (device profiling clock, marker to marker), in this one
# run. As bench/cpu_overhead.sh: each round is a sandwich bare | tokenmeter |
# bare, the middle held to the geometric mean of the two around it (drift
# cancels), and the two outer runs give an A/A control of the machine's own
# noise. Ratio = tokenmeter TFLOP/s / bare TFLOP/s; >= 0.97 is the bar.
#
# usage: bash bench/opencl_gemm.sh [BUILD_DIR] [ROUNDS] [ITERATIONS]
# TM_BENCH_SHAPES replaces the shapes ("MxNxK ...").
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
iterations=${3:-10}
warmup=2
tm="$build/cli/tokenmeter"
bare="$build/bench/bare_clblast_gemm"
[[ -x "$bare" ]] || { echo "opencl_gemm.sh: no $bare (built when the opencl backend is)" >&2; exit 2; }
shapes=${TM_BENCH_SHAPES-"512x512x512 1024x1024x1024 2048x1024x1024"}
work=$(mktemp -d /tmp/tokenmeter-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

bare_median() {  # MxNxK -> device median seconds
  local m n k
  IFS=x read -r m n k <<<"$1"
  "$bare" "$warmup" "$iterations" "$m" "$n" "$k" | awk '{print $4}'
}
tm_median() {  # MxNxK -> tokenmeter's median seconds
  local m n k
  IFS=x read -r m n k <<<"$1"
  cat >"$work/spec.json" <<JSON
{"name": "bench-opencl-gemm-$1", "version": 1, "warmup_iterations": $warmup, "timed_iterations": $iterations,
 "gemm": {"dtypes": ["DTYPE_FP32"], "shapes": [{"name": "$1", "m": $m, "n": $n, "k": $k}]}}
JSON
  "$tm" run --local --workers 1 --backend opencl --spec "$work/spec.json" --store "$work/store.db" --json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    r = json.loads(l)
    if r.get("kind") == "gemm":
        assert r["verified"] and r["wrong_elements"] == 0, r
        print(r["step_seconds_median"])'
}

echo "# opencl GEMM: tokenmeter against a bare CLBlast loop, $rounds rounds of bare | tokenmeter | bare,"
echo "# $warmup warm-up (after CLBlast's compiling call) + $iterations timed calls each; device: $(clinfo -l 2>/dev/null | sed -n 2p | sed 's/.*Device #0: //')"
printf "# %-16s %12s %12s %10s %22s %22s\n" shape "bare (ms)" "tm (ms)" ratio "ratio per round" "A/A per round"
for shape in $shapes; do
  ratios=() controls=() bares=() tms=()
  for ((r = 0; r < rounds; r++)); do
    b1=$(bare_median "$shape"); t=$(tm_median "$shape"); b2=$(bare_median "$shape")
    read -r ratio control b <<<"$(python3 -c "import math; b1,b2,t=$b1,$b2,$t; b=math.sqrt(b1*b2); print(b/t, b1/b2, b)")"
    ratios+=("$ratio"); controls+=("$control"); bares+=("$b"); tms+=("$t")
  done
  python3 - "$shape" "${ratios[*]}" "${controls[*]}" "${bares[*]}" "${tms[*]}" <<'PY'
import statistics, sys
shape, ratios, controls, bares, tms = sys.argv[1], *[list(map(float, a.split())) for a in sys.argv[2:]]
print(f"  {shape:<16} {statistics.median(bares)*1e3:12.2f} {statistics.median(tms)*1e3:12.2f} "
      f"{statistics.median(ratios):10.3f} {' '.join(f'{x:.3f}' for x in ratios):>22} "
      f"{' '.join(f'{x:.3f}' for x in controls):>22}")
PY
done
