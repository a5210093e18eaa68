#!/usr/bin/env bash
# Checks deploy/kubernetes for real: yamllint on the manifests, shellcheck
# on this script, every overlay rendered by `kubectl kustomize` (offline)
# and checked by check_manifests.mjs (upstream OpenAPI schemas through
# kubernetes-models, then cross-object checks against `tokenmeter --help`).
# The validator's npm packages are pinned by package-lock.json; when
# node_modules is absent (a fresh CI machine) this installs them with
# `npm ci` first.
# usage: kubernetes_test.sh REPO_ROOT TOKENMETER_BINARY
set -euo pipefail
root=${1:?usage: kubernetes_test.sh REPO_ROOT TOKENMETER_BINARY}
tokenmeter=${2:?usage: kubernetes_test.sh REPO_ROOT TOKENMETER_BINARY}
checker_dir="$root/tests/deploy/kubernetes"
manifests="$root/deploy/kubernetes"

for tool in kubectl node npm yamllint shellcheck; do
  command -v "$tool" >/dev/null || { echo "kubernetes_test: $tool is not installed (scripts/install-deps.sh)" >&2; exit 1; }
done

if [[ ! -d "$checker_dir/node_modules" ]]; then
  echo "kubernetes_test: installing the validator (npm ci)" >&2
  npm ci --prefer-offline --no-audit --no-fund --loglevel=error --prefix "$checker_dir" >&2
fi

yamllint --strict -c "$manifests/.yamllint" "$manifests"
shellcheck "${BASH_SOURCE[0]}"

status=0
for overlay in "$manifests"/overlays/*/; do
  name=$(basename "$overlay")
  rendered=$(kubectl kustomize "$overlay") || { echo "FAIL $name: kubectl kustomize" >&2; status=1; continue; }
  node "$checker_dir/check_manifests.mjs" "$name" "$tokenmeter" <<<"$rendered" || status=1
done
exit "$status"
