#!/usr/bin/env bash
# Does `tokenmeter diagnose` hold its verdict? On a loopback fleet of three
# CPU workers it runs RUNS times on the healthy fleet (no finding may appear:
# a false positive sends an infra team after a node that is fine) and RUNS
# times with one worker capped at 40% of a core by a cgroup CPU quota (that
# worker, and only it, must be named every time). Prints a table: per
# scenario the runs, the verdicts that were right, and the seconds per run.
#
# usage: bash bench/diagnose_repeat.sh [BUILD_DIR] [RUNS]
# Needs a writable cgroup cpu controller (root) for the slowed half.
set -euo pipefail
build=${1:-build}
runs=${2:-10}
tm="$build/cli/tokenmeter"
work=$(mktemp -d /tmp/tokenmeter-diagnose-XXXXXX)
cgroup=""
pids=()
cleanup() {
  if [[ -n "$cgroup" && -d "$cgroup" ]]; then
    for p in $(cat "$cgroup/cgroup.procs" 2>/dev/null); do echo "$p" > "$(dirname "$cgroup")/cgroup.procs" || true; done
    rmdir "$cgroup" || true
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$tm" coordinator --listen 127.0.0.1:0 --port-file "$work/port" --store "$work/store.db" 2> "$work/coordinator.log" &
pids+=($!)
for _ in $(seq 100); do [[ -s "$work/port" ]] && break; sleep 0.1; done
address="127.0.0.1:$(cat "$work/port")"
for i in 1 2 3; do
  "$tm" worker --coordinator "$address" --cpu-threads 1 --setup diagnose-bench 2> "$work/w$i.log" &
  pids+=($!)
done
victim_pid=${pids[2]}
for _ in $(seq 100); do
  [[ $("$tm" status --coordinator "$address" --json | grep -c WORKER_IDLE) -eq 3 ]] && break
  sleep 0.2
done
victim=$("$tm" status --coordinator "$address" --json |
         python3 -c "import sys,json; print([r['worker_id'] for r in map(json.loads,sys.stdin) if r.get('pid')==$victim_pid][0])")

# scenario name, then the check of one run's JSON Lines (exit status in $rc)
run_scenario() {
  local name=$1 expect=$2 right=0 seconds=0
  for r in $(seq "$runs"); do
    local start end rc=0
    start=$(date +%s.%N)
    "$tm" diagnose --coordinator "$address" --json > "$work/out.jsonl" 2> "$work/err.log" || rc=$?
    end=$(date +%s.%N)
    seconds=$(python3 -c "print($seconds + $end - $start)")
    if python3 - "$work/out.jsonl" "$rc" "$expect" "$victim" <<'EOF'; then right=$((right + 1)); else echo "  run $r wrong:" >&2; cat "$work/out.jsonl" >&2; fi
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rc, expect, victim = int(sys.argv[2]), sys.argv[3], sys.argv[4]
findings = [r for r in rows if r["kind"] == "finding"]
if expect == "healthy":
    sys.exit(0 if rc == 0 and not findings else 1)
named = {r["worker_ids"] for r in findings}
sys.exit(0 if rc == 1 and named == {victim} and any(r["metric"] == "gemm_tflops" for r in findings) else 1)
EOF
  done
  printf "| %-34s | %4d | %6d | %8.1f |\n" "$name" "$runs" "$right" "$(python3 -c "print($seconds / $runs)")"
}

echo "| scenario                           | runs | right  | s/run    |"
echo "|------------------------------------|------|--------|----------|"
run_scenario "healthy: no finding" healthy
if [[ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]]; then
  cgroup=/sys/fs/cgroup/cpu/tokenmeter-bench-$$
  mkdir "$cgroup"
  echo 100000 > "$cgroup/cpu.cfs_period_us"
  echo 40000 > "$cgroup/cpu.cfs_quota_us"
elif [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
  cgroup=/sys/fs/cgroup/tokenmeter-bench-$$
  echo +cpu > /sys/fs/cgroup/cgroup.subtree_control || true
  mkdir "$cgroup"
  echo "40000 100000" > "$cgroup/cpu.max"
else
  echo "no cgroup cpu controller: slowed scenario skipped" >&2
  exit 0
fi
echo "$victim_pid" > "$cgroup/cgroup.procs"
run_scenario "one worker at 40% of a core: named" slowed
