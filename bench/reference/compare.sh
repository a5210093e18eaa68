#!/usr/bin/env bash
# tokenmeter's train step and a real PyTorch step of the same spec, run one
# after the other on this machine, and their ratios (compare.py).
#
# usage: bench/reference/compare.sh [--backend cpu|cuda] SPEC.json...
#   TOKENMETER  the CLI (default: build/cli/tokenmeter)
#   PYTHON      a python3 with torch (default: python3 if it has torch, else
#               /usr/bin/python3, where setup.sh puts Debian's)
#   OUTDIR      where each spec's tokenmeter.jsonl / reference.json land
#               (default: a temporary directory, printed)
#   REF_ARGS    extra torch_step.py flags (e.g. "--timed 20")
#   REPEATS     rounds per spec (default 1). With more, odd rounds run
#               tokenmeter first and even rounds PyTorch first (whatever
#               running first or second does falls on both alike), and a
#               last table gives each ratio's median over the rounds, judged
#               against the band, and its range: one 10-step reading of
#               either side swings by tens of percent on a shared VM.
# One spec at a time, one side at a time: the two never share the cores or
# the GPU.
set -u -o pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BACKEND=cpu
if [[ "${1:-}" == "--backend" ]]; then BACKEND="$2"; shift 2; fi
case "$BACKEND" in cpu) DEVICE=cpu ;; cuda) DEVICE=cuda ;;
  *) echo "compare.sh: --backend must be cpu or cuda (is '$BACKEND')" >&2; exit 2 ;; esac
(( $# > 0 )) || { sed -n 2,13p "$0" >&2; exit 2; }
TOKENMETER="${TOKENMETER:-$ROOT/build/cli/tokenmeter}"
if [[ -z "${PYTHON:-}" ]]; then
  if python3 -c 'import torch' 2>/dev/null; then PYTHON=python3; else PYTHON=/usr/bin/python3; fi
fi
OUTDIR="${OUTDIR:-$(mktemp -d /tmp/tokenmeter-reference-XXXXXX)}"
mkdir -p "$OUTDIR"
[[ -x "$TOKENMETER" ]] || { echo "compare.sh: no tokenmeter at $TOKENMETER (set TOKENMETER)" >&2; exit 2; }
status=0
REPEATS="${REPEATS:-1}"
[[ "$REPEATS" =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: REPEATS must be a positive integer (is '$REPEATS')" >&2; exit 2; }

# tokenmeter's run of $spec into $dir; 1 when it failed.
run_tokenmeter() {
  local spec=$1 dir=$2
  rm -f "$dir/store.db"*
  echo "== $name: tokenmeter ($BACKEND)"
  if ! "$TOKENMETER" run --local --workers 1 --backend "$BACKEND" --store "$dir/store.db" \
      --spec "$spec" > "$dir/tokenmeter.txt" 2>&1; then
    cat "$dir/tokenmeter.txt"; echo "compare.sh: tokenmeter failed on $spec" >&2; return 1
  fi
  grep -E 'step time|tokens/s|time breakdown' "$dir/tokenmeter.txt"
  "$TOKENMETER" results --store "$dir/store.db" --json > "$dir/tokenmeter.jsonl"
}

# The reference's run of $spec into $dir; 1 when it failed.
run_reference() {
  local spec=$1 dir=$2
  echo "== $name: PyTorch ($DEVICE)"
  # shellcheck disable=SC2086
  if ! PYTHONUNBUFFERED=1 "$PYTHON" "$HERE/torch_step.py" "$spec" --device "$DEVICE" ${REF_ARGS:-} \
      --json "$dir/reference.json" > "$dir/reference.txt" 2> "$dir/reference.err"; then
    tail -20 "$dir/reference.err"; echo "compare.sh: the reference failed on $spec" >&2; return 1
  fi
}

for spec in "$@"; do
  name="$(basename "$spec" .json)"
  rounds=()
  for ((round = 1; round <= REPEATS; round++)); do
    dir="$OUTDIR/$name"
    (( REPEATS > 1 )) && dir="$OUTDIR/$name/round-$round"
    mkdir -p "$dir"
    if (( round % 2 == 1 )); then
      run_tokenmeter "$spec" "$dir" && run_reference "$spec" "$dir" || { status=1; continue 2; }
    else
      run_reference "$spec" "$dir" && run_tokenmeter "$spec" "$dir" || { status=1; continue 2; }
    fi
    "$PYTHON" "$HERE/compare.py" "$dir/tokenmeter.jsonl" "$dir/reference.json" | tee "$dir/compare.txt"
    rounds+=("$dir")
  done
  if (( REPEATS > 1 )); then
    "$PYTHON" "$HERE/compare.py" --rounds "${rounds[@]}" | tee "$OUTDIR/$name/rounds.txt"
  fi
done
echo "results in $OUTDIR"
exit $status
