#!/usr/bin/env bash
# spam_throughput.sh [CONFIG] — training throughput of the ByteQRNN spam model:
# `edgeseq train` vs the PyTorch implementation of the same architecture
# (bench/byteqrnn_torch.py), same config, batch, data and max_bytes, with 1 and
# 2 threads, run back to back so both see the same machine load. Prints one
# line per run (bytes/s of full training steps: forward + backward + AdamW).
# Environment: BUILD (default build), DATA (default data), STEPS (default 50),
#   PY (default /usr/bin/python3: the Debian python with torch 1.13).
set -euo pipefail
cd "$(dirname "$0")/.."
cfg="${1:-configs/spam-byteqrnn.json}"
BUILD="${BUILD:-build}"; DATA="${DATA:-data}"; STEPS="${STEPS:-50}"; PY="${PY:-/usr/bin/python3}"
cli="$BUILD/edgeseq"
[ -x "$cli" ] || { echo "build first: cmake --build $BUILD" >&2; exit 2; }
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(lscpu | sed -n 's/^Model name: *//p' | head -1); load $(cut -d' ' -f1-3 /proc/loadavg)"
for t in 1 2; do
  # log_every = STEPS/2: the last report covers steps STEPS/2+1..STEPS (warm caches, no eval)
  half=$((STEPS / 2))
  "$PY" - "$cfg" "$tmp/c.json" "$half" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["train"].update(log_every=int(sys.argv[3]), eval_every=0, save_every=0)
json.dump(c, open(sys.argv[2], "w"))
PYEOF
  "$cli" train "$tmp/c.json" --data "$DATA" --out "$tmp/o$t" --threads "$t" --max-steps "$STEPS" \
    2> "$tmp/log$t" > /dev/null || { cat "$tmp/log$t" >&2; exit 1; }
  bps=$(grep "^step $STEPS/" "$tmp/log$t" | sed -n 's/.* \([0-9.]*\) bytes\/s.*/\1/p')
  echo "{\"impl\": \"edgeseq\", \"threads\": $t, \"steps\": $half, \"bytes_per_s\": $bps, \"load\": \"$(cut -d' ' -f1 /proc/loadavg)\"}"
  "$PY" bench/byteqrnn_torch.py --config "$cfg" --data "$DATA" --threads "$t" --steps 10 --warmup 2
done
