#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang under ASan and UBSan
# and runs each for a bounded time from its seed corpus (tests/fuzz/corpus).
# A crash, a sanitizer report, a leak or a slow input fails the run; the
# failing input is left in $FUZZ_DIR and named in the output.
#
#   bash scripts/fuzz.sh              # every target, FUZZ_SECONDS (default 20) each
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh spec_fuzz
#
# Environment: BUILD_DIR (default build-fuzz), FUZZ_SECONDS, JOBS.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-20}
jobs=${JOBS:-$(nproc)}
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(spec_fuzz catalogue_fuzz result_fuzz flags_fuzz)

bash scripts/install-deps.sh clang libclang-rt-14-dev
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTOKENMETER_WITH_CUDA=OFF -DTOKENMETER_BUILD_TESTS=OFF -DTOKENMETER_BUILD_BENCH=OFF -DTOKENMETER_FUZZ=ON >/dev/null
cmake --build "$build_dir" -j "$jobs" --target "${targets[@]}"

work=${FUZZ_DIR:-$(mktemp -d /tmp/tokenmeter-fuzz-XXXXXX)}
failed=0
for target in "${targets[@]}"; do
  # The seeds are read, never written: new inputs go to a scratch corpus.
  mkdir -p "$work/$target/corpus" "$work/$target/artifacts"
  log="$work/$target/log"
  echo "fuzz: $target for ${seconds}s (seeds: tests/fuzz/corpus/$target)"
  if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
      "$build_dir/tests/fuzz/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -close_fd_mask=3 -print_final_stats=1 \
      -artifact_prefix="$work/$target/artifacts/" \
      "$work/$target/corpus" "tests/fuzz/corpus/$target" >"$log" 2>&1; then
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$log" | tr '\n' ' ' | sed "s/^/fuzz: $target ok: /"
    echo
  else
    failed=1
    echo "fuzz: $target FAILED; the input is in $work/$target/artifacts/; the end of its log:" >&2
    tail -40 "$log" >&2
  fi
done
exit "$failed"
