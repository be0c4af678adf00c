#!/usr/bin/env bash
# train-g2p.sh [--ship] — the CMUdict grapheme-to-phoneme recipe, from a fresh
# clone: build, fetch data, train on the CMUdict train split (dev for model
# selection: greedy dev WER with stress removed), evaluate the selected model
# on dev and once on test (beam 4, float and uint8 beam), measure 1-thread
# latency, and with --ship copy it to models/g2p-cmudict/.
# Split and metrics: src/train/data_cmudict.h, src/train/metrics_g2p.h.
# Two stages: CONFIG trains on lower-case inputs (the normal use) with
# dev selection; CONFIG2 continues that best model on lower- and upper-case
# inputs (so any case works), again selected on dev; its best is the model.
# Environment: BUILD (build folder, default build), DATA (default data),
#   CONFIG (default configs/g2p-bytetransformer.json), CONFIG2 (default
#   configs/g2p-bytetransformer-cases.json; "none" = one stage), OUT (default:
#   the config's "out"), THREADS (training threads, default: config),
#   MAX_STEPS (override train.max_steps),
#   DEV_ONLY=1 (model selection runs: train + dev only; test stays unseen),
#   SKIP_TRAIN=1 (evaluate / ship an existing OUT/best: appends to OUT/train.log),
#   RESUME=1 (continue interrupted stages from their latest checkpoints; a
#   stage that had finished just re-evaluates. Without it, an output folder
#   that already holds a checkpoint is refused: remove it or resume).
# Training goes through `edgeseq train CONFIG` (seq2seq configs: checkpoints,
# dev selection, curves; docs/cli.md). Ctrl-C stops with a checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
ship=0
[ "${1:-}" = "--ship" ] && ship=1
cfg="${CONFIG:-configs/g2p-bytetransformer.json}"
[ -f "$cfg" ] || { echo "train-g2p: no $cfg" >&2; exit 2; }
BUILD="${BUILD:-build}"
DATA="${DATA:-data}"
cfg_out() { sed -n 's/^ *"out": *"\([^"]*\)".*/\1/p' "$1" | head -1; }
OUT="${OUT:-$(cfg_out "$cfg")}"
cfg2="${CONFIG2:-configs/g2p-bytetransformer-cases.json}"
OUT2=""
[ "$cfg2" != none ] && OUT2="$(cfg_out "$cfg2")"
cli="$BUILD/edgeseq"

if [ ! -x "$cli" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD" -j 2 --target edgeseq >/dev/null 2>&1 \
  || cmake --build "$BUILD" -j 2 >/dev/null
[ -f "$DATA/cmudict/dict.txt" ] || bash scripts/fetch-data.sh "$DATA"

mkdir -p "$OUT"
log="$OUT/train.log"
if [ "${SKIP_TRAIN:-0}" != 1 ]; then
  {
    echo "# edgeseq G2P recipe (CMUdict)"
    echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs"
    echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "# config: $cfg"
  } > "$log.head"
  extra=()
  if [ "${RESUME:-0}" = 1 ]; then
    extra+=(--resume)
    cat "$log.head" >> "$log"
  else
    mv "$log.head" "$log"
  fi
  rm -f "$log.head"
  [ -n "${THREADS:-}" ] && extra+=(--threads "$THREADS")
  [ -n "${MAX_STEPS:-}" ] && extra+=(--max-steps "$MAX_STEPS")
  start=$(date +%s)
  "$cli" train "$cfg" --out "$OUT" --data "$DATA" "${extra[@]}" 2>&1 | tee -a "$log"
  end=$(date +%s)
  echo "# stage 1 wall time: $((end - start)) s; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$log"
  if [ -n "$OUT2" ]; then
    echo "# stage 2: $cfg2 (from $OUT/best, lower + upper case)" | tee -a "$log"
    start=$(date +%s)
    extra2=(--data "$DATA")
    [ -n "${THREADS:-}" ] && extra2+=(--threads "$THREADS")
    [ "${RESUME:-0}" = 1 ] && extra2+=(--resume)
    "$cli" train "$cfg2" --out "$OUT2" "${extra2[@]}" 2>&1 | tee -a "$log"
    end=$(date +%s)
    echo "# stage 2 wall time: $((end - start)) s; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$log"
  fi
else
  echo "# SKIP_TRAIN=1: evaluating $OUT/best ($(date -u +%Y-%m-%dT%H:%M:%SZ), load $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$log"
fi

m="$OUT/best"
[ -n "$OUT2" ] && m="$OUT2/best"
echo "# dev split, selected model $m:" | tee -a "$log"
"$cli" eval -m "$m" --task g2p --data "$DATA" --split dev --beam 4 --case original | tee -a "$log"
"$cli" eval -m "$m" --task g2p --data "$DATA" --split dev --beam 4 | tee -a "$log"
"$cli" eval -m "$m" --task g2p --data "$DATA" --split dev --beam 4 --json > "$OUT/dev_metrics_beam4.json"
if [ "${DEV_ONLY:-0}" = 1 ]; then
  echo "# DEV_ONLY=1: stopping before the test split" | tee -a "$log"
  exit 0
fi
echo "# test split (evaluated once, on the dev-selected model):" | tee -a "$log"
"$cli" eval -m "$m" --task g2p --data "$DATA" --split test --beam 4 --threads 1 --json \
  --errors "$OUT/test_errors.tsv" | tee "$OUT/test_metrics.json" | tee -a "$log"
echo "# test split, uint8 beam (--quantized-beam):" | tee -a "$log"
"$cli" eval -m "$m" --task g2p --data "$DATA" --split test --beam 4 --quantized-beam --threads 1 \
  --json | tee "$OUT/test_metrics_uint8.json" | tee -a "$log"
echo "# examples (lower, capitalised, upper case):" | tee -a "$log"
"$cli" generate -m "$m" --beam 4 hello world edgeseq phoneme tomato Hello WORLD | tee -a "$log"

if [ "$ship" = 1 ]; then
  dst="models/g2p-cmudict"
  mkdir -p "$dst"
  cp "$m/config.json" "$m/model.safetensors" "$dst/"
  cp "$m/dev_metrics.json" "$OUT/dev_metrics_beam4.json" "$OUT/test_metrics.json" \
    "$OUT/test_metrics_uint8.json" "$dst/"
  cp "$OUT/curves.csv" "$dst/curves_stage1.csv"
  [ -n "$OUT2" ] && cp "$OUT2/curves.csv" "$dst/curves_stage2.csv"
  cp "$log" "$dst/train.log"
  cp "$cfg" "$dst/train_config.json"
  [ -n "$OUT2" ] && cp "$cfg2" "$dst/train_config_stage2.json"
  cat > "$dst/recipe.sh" <<RECIPE
#!/usr/bin/env bash
# Reproduces models/g2p-cmudict from a fresh clone (build, fetch data, train,
# select on dev, evaluate on test, copy here). See RESULTS.md.
set -euo pipefail
cd "\$(dirname "\$0")/../.."
CONFIG=$cfg CONFIG2=$cfg2 exec bash scripts/train-g2p.sh --ship
RECIPE
  echo "shipped to $dst"
fi
