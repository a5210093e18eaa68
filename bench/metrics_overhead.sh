#!/usr/bin/env bash
# Does serving and scraping /metrics slow the measurements down?
#
#   bash bench/metrics_overhead.sh BUILD_DIR [REPEATS]
#
# Starts a coordinator and one worker (1 rank, --metrics on), then runs the
# `gemm` workload REPEATS times (default 3) in each of two configurations,
# interleaved (off, on, off, on, ...) so that drift hits both alike:
#   off: nobody scrapes the worker;
#   on:  the worker (and coordinator) are scraped every second, as
#        deploy/prometheus/prometheus.yml's short worker interval would.
# Prints one row per GEMM shape: median TFLOP/s both ways, the ratio on/off,
# and the run-to-run spread ((max-min)/median over the repeats) of each.
# A ratio within the spread means no measurable overhead.
#
# Environment: CPU_THREADS (BLAS threads of the rank, default 1),
# ITERATIONS (timed, default 5), WARMUP (default 1).
set -euo pipefail

BUILD_DIR=${1:?usage: bash bench/metrics_overhead.sh BUILD_DIR [REPEATS]}
REPEATS=${2:-3}
BIN="$BUILD_DIR/cli/tokenmeter"
[[ -x "$BIN" ]] || { echo "no tokenmeter binary at $BIN (build the 'tokenmeter' target)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is needed to summarise the runs" >&2; exit 2; }
CPU_THREADS=${CPU_THREADS:-1}
ITERATIONS=${ITERATIONS:-5}
WARMUP=${WARMUP:-1}

WORK=$(mktemp -d /tmp/tokenmeter-metrics-overhead-XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# One GET /metrics over bash's /dev/tcp (no curl needed); the body is read
# and dropped, as Prometheus would read it.
scrape() {
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 0
  printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  cat <&3 >/dev/null
  exec 3<&-
}

COORD_METRICS=$(free_port)
WORKER_METRICS=$(free_port)
"$BIN" coordinator --listen 127.0.0.1:0 --store "$WORK/results.db" --port-file "$WORK/coordinator.port" \
  --metrics "127.0.0.1:$COORD_METRICS" 2>"$WORK/coordinator.log" &
PIDS+=($!)
for _ in $(seq 100); do [[ -s "$WORK/coordinator.port" ]] && break; sleep 0.1; done
[[ -s "$WORK/coordinator.port" ]] || { echo "the coordinator did not start:" >&2; tail "$WORK/coordinator.log" >&2; exit 1; }
COORD="127.0.0.1:$(cat "$WORK/coordinator.port")"
"$BIN" worker --coordinator "$COORD" --metrics "127.0.0.1:$WORKER_METRICS" --setup metrics-overhead \
  --cpu-threads "$CPU_THREADS" 2>"$WORK/worker.log" &
PIDS+=($!)
for _ in $(seq 100); do grep -q registered "$WORK/worker.log" 2>/dev/null && break; sleep 0.1; done

echo "# metrics overhead: gemm, 1 rank, $CPU_THREADS BLAS thread(s), $WARMUP warm-up + $ITERATIONS timed iterations," \
     "$REPEATS runs per configuration, interleaved" >&2
for r in $(seq "$REPEATS"); do
  for mode in off on; do
    SCRAPER=""
    if [[ $mode == on ]]; then
      ( while true; do scrape "$WORKER_METRICS"; scrape "$COORD_METRICS"; sleep 1; done ) &
      SCRAPER=$!
    fi
    "$BIN" run --coordinator "$COORD" --workload gemm --iterations "$ITERATIONS" --warmup "$WARMUP" --json \
      >"$WORK/$mode-$r.jsonl" 2>>"$WORK/run.log" || { echo "run $mode $r failed:" >&2; tail -3 "$WORK/run.log" >&2; exit 1; }
    if [[ -n $SCRAPER ]]; then kill "$SCRAPER" 2>/dev/null; wait "$SCRAPER" 2>/dev/null || true; fi
    echo "#   run $r, scraping $mode: done" >&2
  done
done

python3 - "$WORK" "$REPEATS" <<'EOF'
import json, statistics, sys
work, repeats = sys.argv[1], int(sys.argv[2])
runs = {"off": [], "on": []}
for mode in runs:
    for r in range(1, repeats + 1):
        with open(f"{work}/{mode}-{r}.jsonl") as f:
            runs[mode].append({(o["shape"], o["dtype"]): o["tflops"] for o in map(json.loads, f) if "tflops" in o})
shapes = list(runs["off"][0])
def summary(mode, key):
    xs = [run[key] for run in runs[mode] if key in run]
    med = statistics.median(xs)
    return med, (max(xs) - min(xs)) / med if med else float("nan")
print("# TFLOP/s per shape: median of %d runs; spread = (max-min)/median over those runs" % repeats)
print("# %-26s %-6s %12s %8s %12s %8s %9s" % ("shape", "dtype", "not scraped", "spread", "scraped 1s", "spread", "on/off"))
ratios, spreads = [], []
for key in shapes:
    off, s_off = summary("off", key)
    on, s_on = summary("on", key)
    ratios.append(on / off); spreads += [s_off, s_on]
    print("  %-26s %-6s %12.4f %7.1f%% %12.4f %7.1f%% %9.3f" % (key[0], key[1], off, 100 * s_off, on, 100 * s_on, on / off))
gm = statistics.geometric_mean(ratios)
print("# geometric mean on/off: %.3f; median run-to-run spread: %.1f%%" % (gm, 100 * statistics.median(spreads)))
print("# verdict: %s" % ("no overhead beyond run-to-run noise" if abs(gm - 1) <= statistics.median(spreads)
                          else "scraping changes GEMM throughput by more than the noise"))
EOF
