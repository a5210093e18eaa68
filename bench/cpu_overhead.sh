#!/usr/bin/env bash
# Does the harness add measurable overhead? tokenmeter's GEMM TFLOP/s against
# a bare OpenBLAS loop on the same shapes, and its all-reduce busbw against a
# bare Gloo loop between 2 processes, measured in this one run.
#
# Design (why): a shared VM drifts by ±10% over tens of seconds, more than
# the effect being looked for. So every round is a sandwich of three runs,
# and the middle one is compared with the geometric mean of the two around it
# (linear drift cancels). Odd rounds are bare | tokenmeter | bare, even rounds
# tokenmeter | bare | tokenmeter, so whatever the first or middle position
# does to a run (the machine settling after the previous block) falls on
# both sides equally. The two outer runs of a round also give an A/A control:
# what this machine's noise alone does to a ratio of two identical runs. The
# verdict is the median over rounds of the paired ratios (per shape / size,
# then the worst of those), printed with the range of the paired ratios and
# of the A/A control.
#
# usage: bash bench/cpu_overhead.sh [BUILD_DIR] [ROUNDS] [GEMM_ITERATIONS]
# TM_BENCH_GEMM / TM_BENCH_AR replace the GEMM runs ("MxNxK:iterations ...")
# or the all-reduce runs ("bytes:warmup:iterations ..."); empty skips that
# half (e.g. many rounds of one doubtful shape:
#   TM_BENCH_AR= TM_BENCH_GEMM=1024x1024x1024:100 bash bench/cpu_overhead.sh build 30).
# GEMM iterations are per shape, ~1.5 s of timed calls each (a 16 ms 1024^3
# call needs 100 to steady its median, a 130 ms 2048^3 one 15);
# GEMM_ITERATIONS, when given, replaces them all (for a quick try).
# All-reduce warm-up and iterations scale with size. A fresh pair of Gloo
# processes runs its first ~150 ms slower (TCP buffers and the scheduler
# settling; both sides alike), so 1 MiB warms up for 200 calls before its 300
# timed ones; a 1 MiB all-reduce takes ~1 ms here, with a tail to 5 ms from
# scheduling, so its median needs hundreds of iterations to stay put; 64 MiB
# takes ~0.2 s and 20 are plenty. (A real collective sweep reaches 1 MiB after
# 17 smaller sizes on the same connections, already warm.)
set -euo pipefail
build=${1:-build}
rounds=${2:-10}
iterations=${3:-}
warmup=3
tm="$build/cli/tokenmeter"
threads=$(nproc)
work=$(mktemp -d /tmp/tokenmeter-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

# The same shapes and sizes on both sides: tokenmeter runs them from specs.
# GEMM shapes and timed iterations: "MxNxK:iterations"
gemm_runs=${TM_BENCH_GEMM-"1024x1024x1024:100 2048x2048x2048:15 2048x4096x1024:15 2048x1024x4096:15"}
if [[ -n "$iterations" ]]; then gemm_runs=$(for r in $gemm_runs; do echo -n "${r%%:*}:$iterations "; done); fi
# all-reduce sizes, warm-up and timed iterations: "bytes:warmup:iterations"
ar_runs=${TM_BENCH_AR-"1048576:200:300 4194304:50:100 16777216:10:40 67108864:5:20"}
python3 - "$work" "$gemm_runs" "$ar_runs" <<'PY'
import json, sys
work = sys.argv[1]
for run in sys.argv[2].split():
    shape = run.split(":")[0]
    m, n, k = (int(x) for x in shape.split("x"))
    gemm = {"name": f"bench-gemm-{shape}", "version": 1,
            "gemm": {"dtypes": ["DTYPE_FP32"], "shapes": [{"name": shape, "m": m, "n": n, "k": k}]}}
    json.dump(gemm, open(f"{work}/gemm_{shape}.json", "w"))
for run in sys.argv[3].split():
    size = int(run.split(":")[0])
    ar = {"name": f"bench-all-reduce-{size}", "version": 1, "collective": {"ops": ["ALL_REDUCE"], "min_bytes": size,
          "max_bytes": size, "step_factor": 2, "dtype": "DTYPE_FP32"}}
    json.dump(ar, open(f"{work}/all_reduce_{size}.json", "w"))
PY

# Each run appends "ROUND POSITION SIDE KEY... VALUE" (POSITION 1-3 in the
# round's sandwich, SIDE bare or tm) to gemm.txt or ar.txt.
bare_gemm() {  # ROUND POSITION SHAPE ITERATIONS
  "$build/bench/bare_gemm" "$threads" "$warmup" "$4" ${3//x/ } | sed "s/^/$1 $2 bare /" >> "$work/gemm.txt"
}
tm_gemm() {  # ROUND POSITION SHAPE ITERATIONS
  "$tm" run --local --workers 1 --spec "$work/gemm_$3.json" --warmup "$warmup" --iterations "$4" --json \
    2>"$work/tm.err" | python3 -c 'import sys, json
for l in sys.stdin:
    r = json.loads(l)
    if r.get("kind") == "gemm": print(sys.argv[1], "tm", int(r["m"]), int(r["n"]), int(r["k"]), r["step_seconds_median"], r["tflops"])' "$1 $2" \
    >> "$work/gemm.txt" || { cat "$work/tm.err" >&2; exit 1; }
}
bare_ar() {  # ROUND POSITION BYTES WARMUP ITERATIONS
  local store="$work/store-$1-$2-$3"
  mkdir -p "$store"
  "$build/bench/bare_allreduce" 1 2 "$store" "$4" "$5" "$3" > /dev/null &
  "$build/bench/bare_allreduce" 0 2 "$store" "$4" "$5" "$3" | sed "s/^/$1 $2 bare /" >> "$work/ar.txt"
  wait
}
tm_ar() {  # ROUND POSITION BYTES WARMUP ITERATIONS
  "$tm" run --local --workers 2 --spec "$work/all_reduce_$3.json" --warmup "$4" --iterations "$5" --json \
    2>"$work/tm.err" | python3 -c 'import sys, json
for l in sys.stdin:
    r = json.loads(l)
    if r.get("kind") == "collective": print(sys.argv[1], "tm", int(r["size_bytes"]), r["time_seconds_median"], r["busbw_gbps"])' "$1 $2" \
    >> "$work/ar.txt" || { cat "$work/tm.err" >&2; exit 1; }
}

for round in $(seq "$rounds"); do
  # Odd rounds bare | tokenmeter | bare, even rounds tokenmeter | bare | tokenmeter.
  if (( round % 2 )); then outer=bare inner=tm; else outer=tm inner=bare; fi
  for run in $gemm_runs; do
    shape=${run%%:*} n=${run##*:}
    echo "round $round/$rounds: GEMM $shape x $n: $outer | $inner | $outer" >&2
    "${outer}_gemm" "$round" 1 "$shape" "$n"
    "${inner}_gemm" "$round" 2 "$shape" "$n"
    "${outer}_gemm" "$round" 3 "$shape" "$n"
  done
  for run in $ar_runs; do
    IFS=: read -r bytes ar_warmup n <<< "$run"
    echo "round $round/$rounds: all-reduce $bytes B, $ar_warmup + $n calls: $outer | $inner | $outer" >&2
    "${outer}_ar" "$round" 1 "$bytes" "$ar_warmup" "$n"
    "${inner}_ar" "$round" 2 "$bytes" "$ar_warmup" "$n"
    "${outer}_ar" "$round" 3 "$bytes" "$ar_warmup" "$n"
  done
done

python3 - "$work" "$rounds" "$gemm_runs" "$ar_runs" "$threads" <<'PY'
import collections, math, os, statistics, sys
work, rounds, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[5])
gemm_iterations = ", ".join(r.replace(":", ": ") for r in sys.argv[3].split())
ar_iterations = ", ".join(f"{int(b) >> 20} MiB: {w} + {n}" if int(b) >= 1 << 20 else f"{b} B: {w} + {n}"
                          for b, w, n in (r.split(":") for r in sys.argv[4].split()))

def load(path, key_cols):
    # {key: {round: {position: (side, value)}}}, value = throughput (TFLOP/s or GB/s)
    data = collections.defaultdict(lambda: collections.defaultdict(dict))
    if not os.path.exists(f"{work}/{path}"):
        return data
    for line in open(f"{work}/{path}"):
        f = line.split()
        rnd, pos, side = int(f[0]), int(f[1]), f[2]
        key = tuple(int(float(x)) for x in f[3:3 + key_cols])
        data[key][rnd][pos] = (side, float(f[-1]))
    return data

def analyse(title, unit, data, key_fmt, key_head, goal, iterations):
    if not data:
        return None
    print(f"# {title}")
    print(f"# {rounds} rounds of three runs (bare | tm | bare, then tm | bare | tm), median per run;"
          f" timed iterations per run: {iterations}")
    print(f"# {key_head} {'bare ' + unit:>12} {'tokenmeter':>11} {'ratio':>7} {'ratio range':>15} {'A/A range':>15}")
    worst, pooled, pooled_control = None, [], []
    for key, per_round in data.items():
        paired, control, bare_all, tm_all = [], [], [], []
        for runs in per_round.values():
            if sorted(runs) != [1, 2, 3]:
                continue
            (outer, first), (inner, middle), (_, last) = runs[1], runs[2], runs[3]
            around = math.sqrt(first * last)
            bare, tm = (around, middle) if outer == "bare" else (middle, around)
            paired.append(tm / bare)
            control.append(last / first)
            bare_all.append(bare)
            tm_all.append(tm)
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
