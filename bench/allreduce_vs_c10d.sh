#!/usr/bin/env bash
# tokenmeter's cpu all-reduce against PyTorch's own: `run --local --workers 2`
# (Gloo between two worker processes, 1 BLAS thread each) against c10d's
# ProcessGroupGloo in two processes, 1 intra-op thread each
# (bench/c10d_allreduce.py), same sizes, same iteration counts, both timed
# per call after a barrier and summarised the same way (per iteration the
# slower rank, then the median; docs/metrics.md "Collective timing").
#
# A shared VM drifts by ±10% over tens of seconds, so, as bench/cpu_overhead.sh
# does, every round is a sandwich: odd rounds c10d | tokenmeter | c10d, even
# rounds tokenmeter | c10d | tokenmeter, and the middle run is compared with
# the geometric mean of the two around it. Printed per size: the median over
# rounds of tokenmeter/c10d busbw, its range, and both sides' median busbw.
#
# Needs Debian's python3-torch (it calls the same OpenBLAS and ships Gloo).
# usage: bash bench/allreduce_vs_c10d.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
build=${1:-build}
rounds=${2:-4}
warmup=5
iterations=20
sizes=(1048576 4194304 16777216 67108864)
here=$(cd "$(dirname "$0")" && pwd)
tm="$build/cli/tokenmeter"
python=/usr/bin/python3
"$python" -c "import torch.distributed as d; assert d.is_gloo_available()" 2>/dev/null || {
  echo "allreduce_vs_c10d: needs python3-torch (apt-get install python3-torch)" >&2
  exit 2
}
work=$(mktemp -d /tmp/tokenmeter-c10d-XXXXXX)
trap 'rm -rf "$work"' EXIT
cat > "$work/spec.json" <<EOF
{"name": "bench/all-reduce", "version": 1, "warmupIterations": $warmup, "timedIterations": $iterations,
 "collective": {"ops": ["ALL_REDUCE"], "minBytes": "${sizes[0]}", "maxBytes": "${sizes[-1]}",
                "stepFactor": 4, "dtype": "DTYPE_FP32"}}
EOF

# Each prints "bytes busbw_gbps" lines.
run_c10d() { "$python" "$here/c10d_allreduce.py" "$warmup" "$iterations" "${sizes[@]}" | awk '{print $1, $3}' | sort; }
run_tm() {
  "$tm" run --local --workers 2 --spec "$work/spec.json" --json 2>/dev/null |
    "$python" -c '
import json, sys
for line in sys.stdin:
    row = json.loads(line)
    if row.get("kind") == "collective":
        print(int(row["size_bytes"]), row["busbw_gbps"])' | sort
}

: > "$work/pairs"
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then
    run_c10d > "$work/a"; run_tm > "$work/m"; run_c10d > "$work/b"; side=tm
  else
    run_tm > "$work/a"; run_c10d > "$work/m"; run_tm > "$work/b"; side=c10d
  fi
  # bytes, tokenmeter busbw, c10d busbw for this round (outer pair: geometric mean).
  join "$work/a" "$work/b" | join - "$work/m" | awk -v side="$side" '{
      outer = sqrt($2 * $3)
      if (side == "tm") print $1, $4, outer; else print $1, outer, $4 }' >> "$work/pairs"
  echo "round $r of $rounds done" >&2
done

"$python" - "$work/pairs" <<'EOF'
import statistics, sys
by = {}
for line in open(sys.argv[1]):
    b, tm, c10d = line.split()
    by.setdefault(int(b), []).append((float(tm), float(c10d)))
print(f"{'size (B)':>10} {'tm busbw':>9} {'c10d busbw':>10} {'tm/c10d':>8} {'range':>13}   (GB/s; median over rounds)")
for b in sorted(by):
    ratios = [t / c for t, c in by[b]]
    print(f"{b:>10} {statistics.median(t for t, _ in by[b]):>9.3f} {statistics.median(c for _, c in by[b]):>10.3f} "
          f"{statistics.median(ratios):>8.3f} {min(ratios):>6.3f}-{max(ratios):<6.3f}")
EOF
