#!/bin/bash
# byte_compare.sh — ByteQRNN speed, this tree vs PyTorch (and optionally vs
# an older build), interleaved so every contender sees the same machine load.
# Timing harness, not a test. Usage:
#   bench/byte_compare.sh BUILD_DIR [ROUNDS] [CONFIG] [BASE_BUILD_DIR]
# CONFIG: a configs/*.json file, or "default" (es_byte_config_default sizes,
# written to a temporary config for bench/byteqrnn_torch.py). Per round and
# thread count (1, 2): edgeseq inference + training (bench/byteqrnn_bench.c),
# the base build's (if given), then PyTorch training (bench/byteqrnn_torch.py:
# forward + backward + AdamW; ours excludes AdamW, ~0.1 ms). One JSON line each,
# with the 1-minute load average. Environment: DATA (default data), STEPS (8),
# TORCH_STEPS (5), PY (/usr/bin/python3).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
bld=$(cd "${1:?build dir}" && pwd); rounds=${2:-3}; cfg=${3:-default}; base=${4:-}
DATA=${DATA:-$src/data}; STEPS=${STEPS:-8}; TORCH_STEPS=${TORCH_STEPS:-5}; PY=${PY:-/usr/bin/python3}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cc=${CC:-cc}
build_bench() { # $1 build dir, $2 output
  $cc -std=c11 -D_GNU_SOURCE -O2 -I"$src/include" -I"$src/src" "$src/bench/byteqrnn_bench.c" \
    "$1/libedgeseq.a" $(pkg-config --libs json-c) -lpthread -lm -o "$2"
}
build_bench "$bld" "$tmp/new"
[ -n "$base" ] && build_bench "$base" "$tmp/base"
if [ "$cfg" = default ]; then
  # the es_byte_config_default ByteQRNN sizes, with the spam config's labels and training params
  "$PY" - "$src/configs/spam-byteqrnn.json" "$tmp/cfg.json" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["model"].update(max_bytes=2048, d_embed=0, d_model=32, gbst_kernel=5, gbst_blocks=4,
                  downsample=4, qrnn_layers=2, qrnn_hidden=32, qrnn_kernel=2,
                  qrnn_bidirectional=1, zoneout=0.1, dropout=0.1)
c["train"]["batch_size"] = 32
json.dump(c, open(sys.argv[2], "w"))
PYEOF
  cfg=$tmp/cfg.json
fi
"$PY" -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["model"]))' "$cfg" > "$tmp/model.json"
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs; config $3"
tag() { sed "s/^{/{\"impl\": \"$1\", \"load\": $(cut -d' ' -f1 /proc/loadavg), /"; }
for r in $(seq 1 "$rounds"); do
  for t in 1 2; do
    "$tmp/new" "$t" "$DATA" 300 "$STEPS" "$tmp/model.json" | tag edgeseq
    [ -n "$base" ] && "$tmp/base" "$t" "$DATA" 100 "$STEPS" "$tmp/model.json" | tag edgeseq-base
    "$PY" "$src/bench/byteqrnn_torch.py" --config "$cfg" --data "$DATA" --threads "$t" \
      --steps "$TORCH_STEPS" --warmup 2 | tag pytorch
  done
done
