#!/usr/bin/env bash
# Runs every libFuzzer binary fuzz_* found in BUILD_DIR for SECONDS each.
# Builds nothing: configure and build first, e.g.
#   CC=clang cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DES_FUZZ=ON
#   ninja -C build-fuzz
#   scripts/fuzz-smoke.sh build-fuzz 60
# Each fuzzer starts from a temporary copy of tests/fuzz/corpus/<name>/
# (the checked-in corpus is never modified) and uses tests/fuzz/fuzz_<name>.dict
# when present. Crash/leak/timeout reproducers are copied to
# BUILD_DIR/fuzz-artifacts/<name>/. Exit status: 0 = all clean, 1 = some
# fuzzer found a problem, 2 = usage error or no fuzzers found.
set -uo pipefail
if [ $# -ne 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 BUILD_DIR SECONDS" >&2
  exit 2
fi
build=$(cd "$1" 2>/dev/null && pwd) || { echo "fuzz-smoke: no build dir $1" >&2; exit 2; }
secs=$2
src=$(cd "$(dirname "$0")/.." && pwd)
mapfile -t bins < <(find "$build" -maxdepth 3 -type f -perm -u+x -name 'fuzz_*' | sort)
if [ ${#bins[@]} -eq 0 ]; then
  echo "fuzz-smoke: no fuzz_* binaries in $build (configure with CC=clang -DES_FUZZ=ON)" >&2
  exit 2
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
for bin in "${bins[@]}"; do
  stem=$(basename "$bin")
  name=${stem#fuzz_}
  corpus="$work/$name/corpus"
  arts="$work/$name/artifacts"
  mkdir -p "$corpus" "$arts"
  if [ -d "$src/tests/fuzz/corpus/$name" ]; then
    cp -r "$src/tests/fuzz/corpus/$name/." "$corpus/"
  else
    echo "fuzz-smoke: $name: no corpus at tests/fuzz/corpus/$name, starting empty" >&2
  fi
  args=(-max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -max_len=65536
        -print_final_stats=1 -artifact_prefix="$arts/")
  [ -f "$src/tests/fuzz/$stem.dict" ] && args+=(-dict="$src/tests/fuzz/$stem.dict")
  echo "== $name: ${secs}s, $(ls "$corpus" | wc -l) seed inputs =="
  "$bin" "${args[@]}" "$corpus" > "$work/$name/log" 2>&1
  rc=$?
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^Done [0-9]+ runs' "$work/$name/log" || true
  if [ $rc -ne 0 ] || [ -n "$(ls -A "$arts")" ]; then
    status=1
    mkdir -p "$build/fuzz-artifacts/$name"
    cp -r "$arts/." "$build/fuzz-artifacts/$name/" 2>/dev/null || true
    echo "fuzz-smoke: $name FAILED (exit $rc); reproducers in $build/fuzz-artifacts/$name/" >&2
    grep -E 'ERROR|SUMMARY|runtime error|==[0-9]+==' "$work/$name/log" | head -20 >&2
    tail -40 "$work/$name/log" >&2
  else
    echo "$name: ok"
  fi
done
exit $status
