#!/bin/bash
# byte_bench.sh — builds bench/byteqrnn_bench.c against a built tree and runs
# it (timing harness, not a test). Usage:
#   bench/byte_bench.sh BUILD_DIR [THREADS] [DATA_DIR] [INFER_CALLS] [TRAIN_STEPS] [CONFIG]
# CONFIG: a configs/*.json file (its "model" object is used, as
# bench/byteqrnn_torch.py does); default: es_byte_config_default.
# Prints `uptime` first: the machine may be shared, read medians with the load.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
bld=${1:?build dir}
out=$bld/byteqrnn_bench
cc=${CC:-cc}
${cc} -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -I"$src/include" -I"$src/src" \
  "$src/bench/byteqrnn_bench.c" "$bld/libedgeseq.a" $(pkg-config --libs json-c) -lpthread -lm -o "$out"
model=""
if [ -n "${6:-}" ]; then
  model=$(mktemp)
  trap 'rm -f "$model"' EXIT
  python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["model"]))' "$6" > "$model"
fi
uptime
"$out" "${2:-1}" "${3:-}" "${4:-200}" "${5:-10}" "$model"
