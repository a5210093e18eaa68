#!/usr/bin/env bash
# deploy/slurm/tokenmeter.sbatch on a real Slurm cluster this test starts
# itself: munged, slurmctld and two slurmd (nodes tm1 and tm2 on this host,
# `slurmd -N`), from a slurm.conf generated in a temporary directory with
# ports of its own. It submits the real batch script with sbatch, waits for
# it, checks what the job left in its directory (the store with the suite's
# results, each naming the Slurm job; the JSON Lines; the report) and stops
# every daemon it started.
#
#   bash tests/deploy/slurm_test.sh TOKENMETER_BINARY
#
# Exit 77 (CTest's skip) only when Slurm or munge is not installed or the
# daemons cannot start, saying why; where CI is set that fails instead, as
# CI installs them (scripts/install-deps.sh).
set -euo pipefail
bin=$(realpath "${1:?usage: slurm_test.sh TOKENMETER_BINARY}")
here=$(cd "$(dirname "$0")" && pwd)
script="$here/../../deploy/slurm/tokenmeter.sbatch"

# Where CI is set, what would be a skip is a failure: CI installs Slurm.
skip() {
  if [[ -n ${CI:-} ]]; then echo "FAILED (CI): $*" >&2; exit 1; fi
  echo "SKIPPED: $*" >&2
  exit 77
}
fail() { echo "FAILED: $*" >&2; exit 1; }
for tool in munged slurmctld slurmd sbatch scontrol sinfo; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (apt-get install slurm-wlm munge)"
done
[[ -r /etc/munge/munge.key ]] || skip "no readable munge key at /etc/munge/munge.key"

dir=$(mktemp -d /tmp/tokenmeter-slurm-XXXXXX)
mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/job"
export SLURM_CONF=$dir/slurm.conf
cleanup() {
  scontrol shutdown >/dev/null 2>&1 || true
  for _ in $(seq 50); do
    pgrep -f "$SLURM_CONF" >/dev/null || break
    sleep 0.1
  done
  pkill -KILL -f "$SLURM_CONF" 2>/dev/null || true
  munged --stop --socket="$dir/munge.socket" >/dev/null 2>&1 || true
  if [[ ${KEEP:-0} != 1 ]]; then rm -rf "$dir"; fi
}
trap cleanup EXIT

# A free TCP port on loopback, from the kernel.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

munged --force --socket="$dir/munge.socket" --key-file=/etc/munge/munge.key --log-file="$dir/log/munged.log" \
  --pid-file="$dir/munged.pid" --seed-file="$dir/munged.seed" || skip "munged did not start: $(tail -n 3 "$dir/log/munged.log" 2>/dev/null)"

host=$(hostname)
cat >"$SLURM_CONF" <<CONF
ClusterName=tmtest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge.socket
CredType=cred/munge
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
MpiDefault=none
ReturnToService=2
NodeName=tm1 NodeHostname=$host NodeAddr=127.0.0.1 CPUs=$(nproc) Port=$(free_port)
NodeName=tm2 NodeHostname=$host NodeAddr=127.0.0.1 CPUs=$(nproc) Port=$(free_port)
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

slurmctld -f "$SLURM_CONF" || skip "slurmctld did not start: $(tail -n 3 "$dir/log/slurmctld.log" 2>/dev/null)"
for node in tm1 tm2; do
  slurmd -f "$SLURM_CONF" -N "$node" || skip "slurmd -N $node did not start: $(tail -n 3 "$dir/log/slurmd-$node.log" 2>/dev/null)"
done
for _ in $(seq 100); do
  [[ $(sinfo --noheader --states=idle --format=%D 2>/dev/null | head -n 1) == 2 ]] && break
  sleep 0.2
done
[[ $(sinfo --noheader --states=idle --format=%D | head -n 1) == 2 ]] ||
  skip "the two nodes did not come up idle: $(sinfo 2>&1; tail -n 3 "$dir/log/slurmctld.log")"
echo "slurm: 2 nodes idle (config $SLURM_CONF)"

# The real script, as a user submits it: the quick suite on both nodes.
out="$dir/job/out"
cd "$dir/job"
submitted=$(timeout 600 sbatch --wait --parsable --nodes=2 \
  --export=ALL,TOKENMETER="$bin",TOKENMETER_ARGS=--quick,TOKENMETER_OUT="$out",TOKENMETER_PRICE=1.5 "$script") ||
  fail "the batch job failed: $(cat "$dir"/job/tokenmeter-*.out 2>/dev/null | tail -n 30)"
job=${submitted%%;*}
echo "slurm: job $job done"
cat "$dir/job/tokenmeter-$job.out"

for f in results.db results.jsonl report.html headline.txt; do
  [[ -s $out/$f ]] || fail "the job left no $f in $out"
done
results=$("$bin" results --store "$out/results.db" --json)
count=$(grep -c '"kind":"job"' <<<"$results" || true)
# The suite's 9 workloads, and its fleet check: the verdict's record and its
# check jobs (a GEMM on each node's worker, the one pair between them).
((count == 13)) || fail "expected the suite's 13 results in the store (9 workloads, a fleet check of 4), found $count"
grep -q '"workload":"fleet-check"' <<<"$results" || fail "the suite stored no fleet-check verdict"
grep -q '"setup":"tmtest-test"' <<<"$results" || fail "the results do not name the setup <cluster>-<partition>"
grep -q '"ranks":2' <<<"$results" || fail "the jobs did not run on both nodes' workers"
exported=$("$bin" export --store "$out/results.db")
[[ $(grep -c "\"batch_job\":\"slurm:$job\"" <<<"$exported") -eq 13 ]] ||
  fail "not every stored result names Slurm job $job in its inventory"
grep -q '<svg class="chart"' "$out/report.html" || fail "the report has no chart"
grep -q 'train-step/tiny/eager' "$out/headline.txt" || fail "the headline table has no train step"
echo "slurm: store, JSON Lines and report checked"

# Every daemon this test started goes away.
cd /
scontrol shutdown
for _ in $(seq 100); do
  pgrep -f "$SLURM_CONF" >/dev/null || break
  sleep 0.1
done
if pgrep -af "$SLURM_CONF"; then fail "Slurm daemons still running after scontrol shutdown"; fi
munged --stop --socket="$dir/munge.socket" >/dev/null
echo "slurm: daemons stopped"
