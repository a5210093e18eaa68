#!/usr/bin/env bash
# The coordinator at fleet scale: heart-beats, long-polls and jobs from N
# simulated workers (bench/fleet_load.cc), one fresh coordinator per N.
#
#   bash bench/fleet_load.sh BUILD_DIR [N ...]      (default N: 1024 4096 16384)
#
# For each N: starts a coordinator (throw-away store in a temp dir, --metrics
# on a free port, its default heart-beat interval and lost-after), runs
# fleet_load against it (register N workers of 8 simulated GPUs, then a
# window of WINDOW seconds with every worker's task wait open, heart-beats at
# the interval the coordinator gives, JOBS one-rank jobs answered with
# synthetic timings, and a few /metrics scrapes), stops the coordinator, and
# prints one table row per N. Loopback only; WINDOW plus 10-40 s per N
# (registration, shutdown, and the wait for a quiet machine).
#
# The generator runs on the same machine as the coordinator and shares its
# CPUs (on the 2-vCPU VM of docs/benchmarks.md, ~50 us of CPU per RPC against
# the coordinator's ~75 us): the latencies are those of the two together, an
# upper bound on the coordinator's own. Other load on the machine shows in
# the "other CPU %" column (all CPUs' busy time less the two; approximate, as
# /proc/stat is sampled at clock ticks).
#
# Environment: WINDOW (seconds measured after registration, default 90: at
# 16384 workers the coordinator stretches the cadence to 8 s, lost after 40 s,
# and a window shorter than twice that could not see a worker wrongly lost),
# JOBS (default 150), CHANNELS (gRPC connections, default 8), THREADS
# (generator threads, default 2), POLL_WAIT_MS (each PollTask's wait, default
# 10000 as worker/worker.cc, the server's cap), HEARTBEAT_PHASE
# (spread: each worker's first beat at a random phase of the interval, as a
# fleet that has run a while; register: right after registering, so a fleet
# registered in a burst beats in step; default spread), METRICS (on; off
# starts the coordinator without --metrics, so no scrape walks the fleet:
# the /metrics columns then read "?"), QUIET_WAIT (the most seconds to wait for a quiet
# machine before each N, default 60).
set -euo pipefail

BUILD_DIR=${1:?usage: bash bench/fleet_load.sh BUILD_DIR [N ...]}
shift
SIZES=("$@")
[[ ${#SIZES[@]} -gt 0 ]] || SIZES=(1024 4096 16384)
BIN="$BUILD_DIR/cli/tokenmeter"
GEN="$BUILD_DIR/bench/fleet_load"
[[ -x "$BIN" ]] || { echo "no tokenmeter binary at $BIN (build the 'tokenmeter' target)" >&2; exit 2; }
[[ -x "$GEN" ]] || { echo "no fleet_load binary at $GEN (build the 'fleet_load' target)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is needed for free ports and the table" >&2; exit 2; }
WINDOW=${WINDOW:-90}
JOBS=${JOBS:-150}
CHANNELS=${CHANNELS:-8}
THREADS=${THREADS:-2}
POLL_WAIT_MS=${POLL_WAIT_MS:-10000}
HEARTBEAT_PHASE=${HEARTBEAT_PHASE:-spread}
METRICS=${METRICS:-on}

# A few connections carry everything; raise the descriptor limit anyway, for
# CHANNELS in the thousands.
if [[ $(ulimit -n) != unlimited && $(ulimit -n) -lt 65536 ]]; then ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; fi

WORK=$(mktemp -d /tmp/tokenmeter-fleet-load-XXXXXX)
COORD_PID=""
cleanup() {
  if [[ -n $COORD_PID ]]; then kill "$COORD_PID" 2>/dev/null || true; wait "$COORD_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# The coordinator binary is copied so that a rebuild during the run cannot
# swap it between sizes.
cp "$BIN" "$WORK/tokenmeter"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits (up to QUIET_WAIT seconds, default 60) for 3 s in a row in which the
# machine's CPUs are busy less than a quarter of one CPU, so that a shared
# machine's builds and tests are less likely to land in the window; what does
# land there shows in "other CPU %".
wait_for_quiet() {
  local deadline=$((SECONDS + ${QUIET_WAIT:-60})) quiet=0 a b
  while ((SECONDS < deadline)); do
    a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat)
    sleep 1
    b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat)
    if (((b - a) * 100 < 25 * $(getconf CLK_TCK))); then quiet=$((quiet + 1)); else quiet=0; fi
    ((quiet >= 3)) && return 0
  done
  echo "#   the machine did not go quiet within ${QUIET_WAIT:-60} s; measuring anyway" >&2
}

stop_coordinator() {
  kill -TERM "$COORD_PID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$COORD_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$COORD_PID" 2>/dev/null || true
  wait "$COORD_PID" 2>/dev/null || true
  COORD_PID=""
}

echo "# fleet_load: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), generator on the same CPUs" >&2
echo "# coordinator $(sha256sum "$BIN" | cut -c1-12) ($(git -C "$(dirname "$0")" describe --always --dirty 2>/dev/null || echo '?')); window ${WINDOW}s," \
     "$JOBS jobs, $CHANNELS channels, $THREADS generator threads, poll wait ${POLL_WAIT_MS} ms, heart-beat phase $HEARTBEAT_PHASE, metrics $METRICS" >&2

for n in "${SIZES[@]}"; do
  dir="$WORK/$n"
  mkdir -p "$dir"
  wait_for_quiet
  metrics_flags=()
  [[ $METRICS == off ]] || metrics_flags=(--metrics "127.0.0.1:$(free_port)")
  "$WORK/tokenmeter" coordinator --listen 127.0.0.1:0 --store "$dir/results.db" --port-file "$dir/port" \
    "${metrics_flags[@]}" 2>"$dir/coordinator.log" &
  COORD_PID=$!
  for _ in $(seq 100); do [[ -s "$dir/port" ]] && break; sleep 0.1; done
  [[ -s "$dir/port" ]] || { echo "the coordinator did not start:" >&2; tail "$dir/coordinator.log" >&2; exit 1; }
  echo "#   N=$n: load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  "$GEN" --coordinator "127.0.0.1:$(cat "$dir/port")" --workers "$n" --seconds "$WINDOW" --jobs "$JOBS" \
    --channels "$CHANNELS" --threads "$THREADS" --poll-wait-ms "$POLL_WAIT_MS" --heartbeat-phase "$HEARTBEAT_PHASE" \
    "${metrics_flags[@]}" --coordinator-pid "$COORD_PID" \
    >"$dir/result.json" 2>"$dir/generator.log" || echo "#   N=$n: fleet_load exited $? (not all registered?)" >&2
  stop_coordinator
  # Cross-check of the lost count: the coordinator logs each worker it loses.
  lost_in_log=$(grep -cE '^[0-9:.]+ coordinator: worker .* lost: no heart-beat' "$dir/coordinator.log" || true)
  echo "$lost_in_log" >"$dir/lost_in_log"
  [[ -s "$dir/result.json" ]] || { echo "fleet_load printed nothing for N=$n:" >&2; tail "$dir/generator.log" >&2; exit 1; }
  echo "#   N=$n: done" >&2
done

python3 - "$WORK" "${SIZES[@]}" <<'EOF'
import json, sys
work, sizes = sys.argv[1], sys.argv[2:]

def f(v, fmt="{:.1f}"):
    return "?" if v is None or v == -1 else fmt.format(v)

cols = ["workers", "registered in s", "hb every s", "hb p50 ms", "hb p99 ms", "hb p999 ms", "RPS", "jobs done", "job p99 ms",
        "coord CPU %", "coord RSS MiB", "coord threads", "wrongly lost", "/metrics bytes", "scrape ms",
        "gen CPU %", "other CPU %"]
print("| " + " | ".join(cols) + " |")
print("|" + "---|" * len(cols))
rows = {}
for n in sizes:
    d = json.load(open(f"{work}/{n}/result.json"))
    d["lost_in_log"] = int(open(f"{work}/{n}/lost_in_log").read())
    rows[n] = d
    others = None
    if d.get("coordinator_cpu_percent") is not None:
        others = max(0.0, d["machine_cpu_percent"] - d["coordinator_cpu_percent"] - d["generator_cpu_percent"])
    registered = f(d["register_seconds"], "{:.2f}")
    if d["registered"] != d["workers"]:
        registered = f"{d['registered']} of {d['workers']} in {registered}"
    cadence = f"{d['heartbeat_interval_ms'] / 1000:g} (lost {d['lost_after_ms'] / 1000:g})"
    cells = [str(d["workers"]), registered, cadence, f(d["hb_p50_ms"], "{:.2f}"), f(d["hb_p99_ms"], "{:.2f}"),
             f(d["hb_p999_ms"], "{:.2f}"), f(d["rps"], "{:.0f}"),
             f"{d['jobs_succeeded']}/{d['jobs']}", f(d["job_p99_ms"], "{:.0f}"),
             f(d["coordinator_cpu_percent"]), f(d["coordinator_rss_mib_max"], "{:.0f}"),
             f(d["coordinator_threads_max"], "{}"), f(d["lost"], "{}"), f(d["metrics_bytes"], "{}"),
             f(d["scrape_ms_max"], "{:.0f}"), f(d["generator_cpu_percent"]), f(others)]
    print("| " + " | ".join(cells) + " |")

print()
cpus = next(iter(rows.values()))["cpus"]
print(f"CPU % is of one CPU (the machine has {cpus}); RPS counts every RPC the generator completed in the window;")
print("hb = Heartbeat, client side, send to reply, every beat sent in the window (failed ones too);")
print("/metrics bytes is the largest and scrape ms the slowest of the scrapes taken in the window (the first at its")
print("start); threads and RSS are the maxima seen over the whole run.")
for n, d in rows.items():
    notes = []
    if d["heartbeat_errors"]: notes.append(f"{d['heartbeat_errors']} of {d['heartbeats']} heart-beats failed")
    if d["poll_errors"]: notes.append(f"{d['poll_errors']} polls failed")
    if d["told_unknown"]:
        notes.append(f"{d['told_unknown']} calls answered 'unknown worker' (a lost worker stops, it is not "
                     f"registered again: the heart-beat figures are those of the {d['idle'] + d['busy']} still live)")
    if d["lost_in_log"] != d["lost"]: notes.append(f"coordinator log names {d['lost_in_log']} lost")
    bad_jobs = d["jobs_failed"] + d["jobs_unfinished"] + d["jobs_not_submitted"]
    if bad_jobs:
        notes.append(f"jobs: {d['jobs_failed']} failed, {d['jobs_unfinished']} unfinished, "
                     f"{d['jobs_not_submitted']} not submitted (first error: {d['job_error'][:100]})")
    if d["errors"]:
        top = sorted(d["errors"].items(), key=lambda kv: -kv[1])[:3]
        notes.append("errors: " + "; ".join(f"{k} x{v}" for k, v in top))
    if notes: print(f"N={n}: " + "; ".join(notes))

big = rows.get("16384")
if big:
    big = {k: (-1 if v is None else v) for k, v in big.items()}
    checks = [
        ("p99 heart-beat < 20 ms", big["hb_p99_ms"] != -1 and big["hb_p99_ms"] < 20, f"{big['hb_p99_ms']:.2f} ms"),
        ("0 wrongly lost", big["lost"] == 0, str(big["lost"])),
        ("coordinator threads < 64", 0 < big["coordinator_threads_max"] < 64, str(big["coordinator_threads_max"])),
        ("RSS < 2 GiB", 0 < big["coordinator_rss_mib_max"] < 2048, f"{big['coordinator_rss_mib_max']:.0f} MiB"),
        ("all registered within 60 s", big["registered"] == big["workers"] and big["register_seconds"] < 60,
         f"{big['registered']} in {big['register_seconds']:.1f} s"),
    ]
    if big["metrics_bytes"] != -1 or big["scrape_ms_max"] != -1:
        checks.append(("/metrics scrape < 1 s", 0 <= big["scrape_ms_max"] < 1000, f"{big['scrape_ms_max']:.0f} ms"))
    print("target at 16384: " + "; ".join(f"{name}: {'met' if ok else 'MISSED'} ({got})" for name, ok, got in checks))
EOF
