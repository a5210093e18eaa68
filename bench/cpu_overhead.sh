#!/usr/bin/env bash
# Does the harness add measurable overhead? tokenmeter's GEMM TFLOP/s against
# a bare OpenBLAS loop on the same shapes, and its all-reduce busbw against a
# bare Gloo loop between the same 2 processes — measured in this one run,
# alternating, best of ROUNDS for each side. Prints a table of ratios.
# usage: bash bench/cpu_overhead.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
build=${1:-build}
rounds=${2:-2}
tm="$build/cli/tokenmeter"
threads=$(nproc)
work=$(mktemp -d /tmp/tokenmeter-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

shapes="1024 1024 1024 2048 2048 2048 2048 4096 1024 2048 1024 4096"
sizes="1048576 4194304 16777216 67108864"

for round in $(seq "$rounds"); do
  echo "round $round: bare OpenBLAS" >&2
  "$build/bench/bare_gemm" "$threads" 3 10 $shapes >> "$work/bare_gemm.txt"
  echo "round $round: tokenmeter gemm" >&2
  "$tm" run --local --workers 1 --workload gemm --warmup 3 --iterations 10 --json 2>/dev/null \
    | python3 -c 'import sys, json
for l in sys.stdin:
    r = json.loads(l)
    if r.get("kind") == "gemm": print(int(r["m"]), int(r["n"]), int(r["k"]), r["step_seconds_median"], r["tflops"])' \
    >> "$work/tm_gemm.txt"
  echo "round $round: bare Gloo all-reduce" >&2
  mkdir -p "$work/store$round"
  "$build/bench/bare_allreduce" 1 2 "$work/store$round" 5 20 $sizes > /dev/null &
  "$build/bench/bare_allreduce" 0 2 "$work/store$round" 5 20 $sizes >> "$work/bare_ar.txt"
  wait
  echo "round $round: tokenmeter all-reduce" >&2
  "$tm" run --local --workers 2 --workload collective/all-reduce --warmup 5 --iterations 20 --max-bytes 64M --json \
    2>/dev/null | python3 -c 'import sys, json
for l in sys.stdin:
    r = json.loads(l)
    if r.get("kind") == "collective" and r["size_bytes"] >= 1048576:
        print(int(r["size_bytes"]), r["time_seconds_median"], r["busbw_gbps"])' >> "$work/tm_ar.txt"
done

python3 - "$work" <<'PY'
import sys, collections
work = sys.argv[1]
def best(path, key_cols, value_col):
    best = collections.OrderedDict()
    for line in open(f"{work}/{path}"):
        f = line.split()
        key = tuple(int(float(x)) for x in f[:key_cols])
        best[key] = max(best.get(key, 0.0), float(f[value_col]))
    return best
bare_g, tm_g = best("bare_gemm.txt", 3, 4), best("tm_gemm.txt", 3, 4)
print("# GEMM fp32: tokenmeter vs a bare OpenBLAS loop (best of rounds, same threads)")
print(f"# {'m':>6} {'n':>6} {'k':>6} {'bare TFLOP/s':>13} {'tokenmeter':>11} {'ratio':>7}")
worst = None
for key, bare in bare_g.items():
    if key not in tm_g: continue
    r = tm_g[key] / bare
    worst = r if worst is None else min(worst, r)
    print(f"  {key[0]:>6} {key[1]:>6} {key[2]:>6} {bare:>13.4f} {tm_g[key]:>11.4f} {r:>7.3f}")
print(f"# worst GEMM ratio: {worst:.3f} (goal >= 0.97)")
bare_a, tm_a = best("bare_ar.txt", 1, 2), best("tm_ar.txt", 1, 2)
print("# all-reduce busbw, 2 processes: tokenmeter vs a bare Gloo loop (best of rounds)")
print(f"# {'bytes':>10} {'bare GB/s':>10} {'tokenmeter':>11} {'ratio':>7}")
worst = None
for key, bare in bare_a.items():
    if key not in tm_a: continue
    r = tm_a[key] / bare
    worst = r if worst is None else min(worst, r)
    print(f"  {key[0]:>10} {bare:>10.3f} {tm_a[key]:>11.3f} {r:>7.3f}")
print(f"# worst all-reduce ratio: {worst:.3f} (goal >= 0.95)")
PY
