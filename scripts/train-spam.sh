#!/usr/bin/env bash
# train-spam.sh ENCODER [--ship] — the spam-filter recipe, from a fresh clone:
# build, fetch data, train on the SpamAssassin train split (dev for model
# selection), evaluate the selected model once on test, measure latency.
#   ENCODER: byteqrnn | bytetransformer | bytefunnel (config: configs/spam-ENCODER.json)
#   --ship:  copy the selected model to models/spam-ENCODER/ with recipe.sh,
#            train.log and the test/latency results
# Environment: BUILD (build folder, default build), DATA (default data),
#   OUT (default out/spam-ENCODER), THREADS (training threads, default: config),
#   CONFIG (training config, default configs/spam-ENCODER.json),
#   SHIP_TO (--ship destination, default models/spam-ENCODER),
#   DEV_ONLY=1 (model selection runs: train + dev only, no test evaluation,
#   no latency, no shipping; the test split stays unseen until a config is chosen).
# Everything is logged to OUT/train.log; the script stops at the first error.
set -euo pipefail
cd "$(dirname "$0")/.."
enc="${1:?usage: scripts/train-spam.sh byteqrnn|bytetransformer|bytefunnel [--ship]}"
ship=0
[ "${2:-}" = "--ship" ] && ship=1
cfg="${CONFIG:-configs/spam-$enc.json}"
[ -f "$cfg" ] || { echo "train-spam: no $cfg" >&2; exit 2; }
BUILD="${BUILD:-build}"
DATA="${DATA:-data}"
OUT="${OUT:-out/spam-$enc}"
cli="$BUILD/edgeseq"

if [ ! -x "$cli" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD" -j "$(nproc)" --target edgeseq >/dev/null
bash scripts/fetch-data.sh "$DATA"

mkdir -p "$OUT"
log="$OUT/train.log"
{
  echo "# edgeseq spam recipe: $enc"
  echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs"
  echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "# config: $cfg"
  echo "# edgeseq binary: $cli"
} > "$log"
threads=()
[ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
start=$(date +%s)
"$cli" train "$cfg" --data "$DATA" --out "$OUT" "${threads[@]}" 2>&1 | tee -a "$log"
end=$(date +%s)
echo "# training wall time: $((end - start)) s; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$log"
if [ "${DEV_ONLY:-0}" = 1 ]; then
  echo "# DEV_ONLY=1: stopping before the test split" | tee -a "$log"
  exit 0
fi

echo "# test split (evaluated once, on the dev-selected model $OUT/best):" | tee -a "$log"
"$cli" eval -m "$OUT/best" --data "$DATA" --split test | tee -a "$log"
"$cli" eval -m "$OUT/best" --data "$DATA" --split test --json > "$OUT/test_metrics.json"
echo "# latency: one message at a time, 1 thread:" | tee -a "$log"
"$cli" eval -m "$OUT/best" --data "$DATA" --split test --batch 1 --threads 1 --json \
  | tee "$OUT/latency.json" | tee -a "$log"

if [ "$ship" = 1 ]; then
  dst="${SHIP_TO:-models/spam-$enc}"
  mkdir -p "$dst"
  cp "$OUT/best/config.json" "$OUT/best/model.safetensors" "$dst/"
  cp "$OUT/best/dev_metrics.json" "$OUT/test_metrics.json" "$OUT/latency.json" "$dst/"
  cp "$OUT/curves.csv" "$OUT/curves.svg" "$dst/"
  cp "$log" "$dst/train.log"
  cp "$cfg" "$dst/train_config.json"
  cat > "$dst/recipe.sh" <<RECIPE
#!/usr/bin/env bash
# Reproduces models/spam-$enc from a fresh clone (build, fetch data, train,
# select on dev, evaluate on test, copy here). See RESULTS.md.
set -euo pipefail
cd "\$(dirname "\$0")/../.."
CONFIG=$cfg exec bash scripts/train-spam.sh $enc --ship
RECIPE
  echo "shipped to $dst"
fi
