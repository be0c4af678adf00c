#!/bin/bash
# g2p_steps.sh — builds bench/g2p_steps.c against a build dir's libedgeseq.a
# and runs it: per-step decoder time vs output position and per-word
# latency (greedy, beam 4 float and uint8), 1 thread, dev words only; CSV +
# SVG under OUT_PREFIX. A timing harness, not a test. Usage:
#   bench/g2p_steps.sh BUILD_DIR OUT_PREFIX LABEL=MODEL_DIR... [-- extra g2p_steps options]
# e.g. bench/g2p_steps.sh build out/cmp/bench merged=out/cmp-merged/best standard=out/cmp-standard/best
# Prints `uptime` first: the machine may be shared; CPU-time medians are the
# numbers to compare under load.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
bld=${1:?build dir}
prefix=${2:?output prefix}
shift 2
out=$bld/g2p_steps
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -I"$src/include" -I"$src/src" \
  "$src/bench/g2p_steps.c" "$bld/libedgeseq.a" $(pkg-config --libs json-c) -lpthread -lm -o "$out"
mkdir -p "$(dirname "$prefix")"
uptime
"$out" --data "${DATA:-$src/data}" --out "$prefix" "$@"
