#!/usr/bin/env bash
# Does the harness add measurable overhead? tokenmeter's GEMM TFLOP/s against
# a bare OpenBLAS loop on the same shapes, and its all-reduce busbw against a
# bare Gloo loop between 2 processes, measured in this one run.
#
# Design (why): a shared VM drifts by ±10% over tens of seconds, more than
# the effect being looked for. So every round is a sandwich — bare, then
# tokenmeter, then bare again — and tokenmeter is compared with the geometric
# mean of the two bare runs around it (linear drift cancels). The two bare
# runs of a round also give an A/A control: bare-after / bare-before is what
# this machine's noise alone does to a ratio. The verdict is the median over
# rounds of the paired ratios (per shape / size, then the worst of those),
# printed with the range of the paired ratios and of the A/A control.
#
# usage: bash bench/cpu_overhead.sh [BUILD_DIR] [ROUNDS] [GEMM_ITERATIONS]
# All-reduce iterations scale with size: a 1 MiB all-reduce takes ~1 ms
# here, with a tail to 5 ms from scheduling, so its median needs hundreds of
# iterations to stay put; 64 MiB takes ~0.2 s and 20 are plenty.
set -euo pipefail
build=${1:-build}
rounds=${2:-6}
iterations=${3:-15}
warmup=3
tm="$build/cli/tokenmeter"
threads=$(nproc)
work=$(mktemp -d /tmp/tokenmeter-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

# The same shapes and sizes on both sides: tokenmeter runs them from a spec.
shapes="1024 1024 1024 2048 2048 2048 2048 4096 1024 2048 1024 4096"
# all-reduce sizes and timed iterations: "bytes:iterations"
ar_runs="1048576:300 4194304:100 16777216:40 67108864:20"
python3 - "$work" "$shapes" "$ar_runs" <<'PY'
import json, sys
work, shapes = sys.argv[1], [int(x) for x in sys.argv[2].split()]
gemm = {"name": "bench-gemm", "version": 1, "gemm": {"dtypes": ["DTYPE_FP32"], "shapes": [
    {"name": f"{m}x{n}x{k}", "m": m, "n": n, "k": k} for m, n, k in zip(shapes[0::3], shapes[1::3], shapes[2::3])]}}
json.dump(gemm, open(f"{work}/gemm.json", "w"))
for run in sys.argv[3].split():
    size = int(run.split(":")[0])
    ar = {"name": f"bench-all-reduce-{size}", "version": 1, "collective": {"ops": ["ALL_REDUCE"], "min_bytes": size,
          "max_bytes": size, "step_factor": 2, "dtype": "DTYPE_FP32"}}
    json.dump(ar, open(f"{work}/all_reduce_{size}.json", "w"))
PY

bare_gemm() { "$build/bench/bare_gemm" "$threads" "$warmup" "$iterations" $shapes | sed "s/^/$1 $2 /" >> "$work/gemm.txt"; }
tm_gemm() {
  "$tm" run --local --workers 1 --spec "$work/gemm.json" --warmup "$warmup" --iterations "$iterations" --json \
    2>"$work/tm.err" | python3 -c 'import sys, json
for l in sys.stdin:
    r = json.loads(l)
    if r.get("kind") == "gemm": print(sys.argv[1], "tm", int(r["m"]), int(r["n"]), int(r["k"]), r["step_seconds_median"], r["tflops"])' "$1" \
    >> "$work/gemm.txt" || { cat "$work/tm.err" >&2; exit 1; }
}
bare_ar() {  # ROUND SIDE BYTES ITERATIONS
  local store="$work/store-$1-$2-$3"
  mkdir -p "$store"
  "$build/bench/bare_allreduce" 1 2 "$store" "$warmup" "$4" "$3" > /dev/null &
  "$build/bench/bare_allreduce" 0 2 "$store" "$warmup" "$4" "$3" | sed "s/^/$1 $2 /" >> "$work/ar.txt"
  wait
}
tm_ar() {  # ROUND BYTES ITERATIONS
  "$tm" run --local --workers 2 --spec "$work/all_reduce_$2.json" --warmup "$warmup" --iterations "$3" --json \
    2>"$work/tm.err" | python3 -c 'import sys, json
for l in sys.stdin:
    r = json.loads(l)
    if r.get("kind") == "collective": print(sys.argv[1], "tm", int(r["size_bytes"]), r["time_seconds_median"], r["busbw_gbps"])' "$1" \
    >> "$work/ar.txt" || { cat "$work/tm.err" >&2; exit 1; }
}

for round in $(seq "$rounds"); do
  echo "round $round/$rounds: GEMM bare | tokenmeter | bare" >&2
  bare_gemm "$round" before; tm_gemm "$round"; bare_gemm "$round" after
  for run in $ar_runs; do
    bytes=${run%%:*} n=${run##*:}
    echo "round $round/$rounds: all-reduce $bytes B x $n: bare | tokenmeter | bare" >&2
    bare_ar "$round" before "$bytes" "$n"; tm_ar "$round" "$bytes" "$n"; bare_ar "$round" after "$bytes" "$n"
  done
done

python3 - "$work" "$rounds" "$iterations" "$ar_runs" "$threads" <<'PY'
import collections, math, statistics, sys
work, rounds, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[5])
gemm_iterations, ar_iterations = f"{sys.argv[3]}", "300 (1 MiB) to 20 (64 MiB)"

def load(path, key_cols):
    # {key: {round: {side: value}}}, value = throughput (TFLOP/s or GB/s)
    data = collections.defaultdict(lambda: collections.defaultdict(dict))
    for line in open(f"{work}/{path}"):
        f = line.split()
        rnd, side = int(f[0]), f[1]
        key = tuple(int(float(x)) for x in f[2:2 + key_cols])
        data[key][rnd][side] = float(f[-1])
    return data

def analyse(title, unit, data, key_fmt, key_head, goal, iterations):
    print(f"# {title}")
    print(f"# {rounds} rounds of bare | tokenmeter | bare, {iterations} timed iterations each, median per run")
    print(f"# {key_head} {'bare ' + unit:>12} {'tokenmeter':>11} {'ratio':>7} {'ratio range':>15} {'A/A range':>15}")
    worst, pooled, pooled_control = None, [], []
    for key, per_round in data.items():
        paired, control, bare_all, tm_all = [], [], [], []
        for sides in per_round.values():
            if not {"before", "tm", "after"} <= sides.keys():
                continue
            bare = math.sqrt(sides["before"] * sides["after"])
            paired.append(sides["tm"] / bare)
            control.append(sides["after"] / sides["before"])
            bare_all.append(bare)
            tm_all.append(sides["tm"])
        if not paired:
            continue
        pooled += paired
        pooled_control += control
        r = statistics.median(paired)
        worst = r if worst is None else min(worst, r)
        print(f"  {key_fmt(key)} {statistics.median(bare_all):>12.4f} {statistics.median(tm_all):>11.4f} {r:>7.3f}"
              f" {min(paired):>7.3f}-{max(paired):<7.3f} {min(control):>7.3f}-{max(control):<7.3f}")
    verdict = "met" if worst is not None and worst >= goal else "NOT met"
    print(f"# all {len(pooled)} paired ratios: median {statistics.median(pooled):.3f};"
          f" A/A control median {statistics.median(pooled_control):.3f}, range"
          f" {min(pooled_control):.3f}-{max(pooled_control):.3f} (this machine's noise)")
    print(f"# worst per-{'shape' if unit == 'TFLOP/s' else 'size'} median ratio: {worst:.3f} (goal >= {goal}: {verdict})")
    return worst

print(f"# tokenmeter vs bare loops on this machine ({threads} threads)")
analyse("GEMM fp32: tokenmeter run --local vs a bare cblas_sgemm loop", "TFLOP/s", load("gemm.txt", 3),
        lambda k: f"{k[0]:>6} {k[1]:>6} {k[2]:>6}", f"{'m':>6} {'n':>6} {'k':>6}", 0.97, gemm_iterations)
analyse("all-reduce busbw, 2 processes: tokenmeter run --local vs a bare gloo::allreduce loop", "GB/s",
        load("ar.txt", 1), lambda k: f"{k[0]:>20}", f"{'bytes':>20}", 0.95, ar_iterations)
PY
