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
# One spec at a time, tokenmeter first: the two never share the cores or
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
for spec in "$@"; do
  name="$(basename "$spec" .json)"
  dir="$OUTDIR/$name"
  mkdir -p "$dir"
  rm -f "$dir/store.db"*
  echo "== $name: tokenmeter ($BACKEND)"
  if ! "$TOKENMETER" run --local --workers 1 --backend "$BACKEND" --store "$dir/store.db" \
      --spec "$spec" > "$dir/tokenmeter.txt" 2>&1; then
    cat "$dir/tokenmeter.txt"; echo "compare.sh: tokenmeter failed on $spec" >&2; status=1; continue
  fi
  grep -E 'step time|tokens/s|time breakdown' "$dir/tokenmeter.txt"
  "$TOKENMETER" results --store "$dir/store.db" --json > "$dir/tokenmeter.jsonl" || { status=1; continue; }
  echo "== $name: PyTorch ($DEVICE)"
  # shellcheck disable=SC2086
  if ! PYTHONUNBUFFERED=1 "$PYTHON" "$HERE/torch_step.py" "$spec" --device "$DEVICE" ${REF_ARGS:-} \
      --json "$dir/reference.json" > "$dir/reference.txt" 2> "$dir/reference.err"; then
    tail -20 "$dir/reference.err"; echo "compare.sh: the reference failed on $spec" >&2; status=1; continue
  fi
  "$PYTHON" "$HERE/compare.py" "$dir/tokenmeter.jsonl" "$dir/reference.json" | tee "$dir/compare.txt"
done
echo "results in $OUTDIR"
exit $status
