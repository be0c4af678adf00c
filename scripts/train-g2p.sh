#!/usr/bin/env bash
# train-g2p.sh [--ship] — the CMUdict grapheme-to-phoneme recipe, from a fresh
# clone: build, fetch data, train in stages on the CMUdict train split (dev
# for model selection: greedy dev WER with stress removed), export the int8
# model when the last stage is quantization-aware, evaluate the selected
# model(s) on dev and once on test (beam 4, float and uint8 beam), and with
# --ship copy the shipped model to models/g2p-cmudict/.
# Split and metrics: src/train/data_cmudict.h, src/train/metrics_g2p.h.
#
# Stages (STAGES, space-separated configs, run in order; each config's "init"
# names the previous stage's OUT/best):
#   1 configs/g2p-bytetransformer.json        from scratch, lower-case inputs
#   2 configs/g2p-bytetransformer-cases.json  lower + upper case (any case works)
#   3 configs/g2p-bytetransformer-long40k.json  40,000 more steps, lower + upper
#   4 configs/g2p-bytetransformer-long-qat.json  quantization-aware fine-tune
# If the last stage has a "qat" block, its best model is exported with
# `edgeseq export --int8` to LAST_OUT/int8 and that int8 folder is the model
# shipped; the float model it was fine-tuned from (the previous stage's best,
# "the float twin") is evaluated beside it.
#
# Environment: BUILD (build folder, default build), DATA (default data),
#   STAGES (see above; CONFIG / CONFIG2 of older versions still work: STAGES =
#   "$CONFIG $CONFIG2", CONFIG2=none = one stage), FROM_STAGE=N (skip the
#   training of stages before N: their OUT/best must exist), THREADS (training
#   threads, default: each config's), MAX_STEPS (override train.max_steps of
#   every stage), DEV_ONLY=1 (model selection runs: train + dev only; test
#   stays unseen), SKIP_TRAIN=1 (evaluate / ship existing OUT/best folders),
#   RESUME=1 (continue interrupted stages from their latest checkpoints; a
#   finished stage just re-evaluates. Without it, an output folder that already
#   holds a checkpoint is refused: remove it or resume).
# Kernels: EDGESEQ_ISA defaults to avx2 here (any x86-64 CPU with AVX2 + FMA), the
#   kernels the shipped model was trained with: training and evaluation are then
#   bit-identical on every such machine (the AVX-512 kernels sum in other lane
#   orders, so with them the numbers differ slightly). EDGESEQ_ISA= (empty) or
#   avx512 uses the best kernels instead.
# Training goes through `edgeseq train CONFIG` (seq2seq configs: checkpoints,
# dev selection, curves; docs/cli.md). Ctrl-C stops with a checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
ship=0
export EDGESEQ_ISA="${EDGESEQ_ISA-avx2}"
[ "${1:-}" = "--ship" ] && ship=1
BUILD="${BUILD:-build}"
DATA="${DATA:-data}"
default_stages="configs/g2p-bytetransformer.json configs/g2p-bytetransformer-cases.json
  configs/g2p-bytetransformer-long40k.json configs/g2p-bytetransformer-long-qat.json"
if [ -n "${CONFIG:-}" ]; then
  STAGES="$CONFIG"
  [ "${CONFIG2:-none}" != none ] && STAGES="$STAGES $CONFIG2"
fi
read -r -a stages <<< "$(echo ${STAGES:-$default_stages})"
for c in "${stages[@]}"; do
  [ -f "$c" ] || { echo "train-g2p: no $c" >&2; exit 2; }
done
cfg_out() { sed -n 's/^ *"out": *"\([^"]*\)".*/\1/p' "$1" | head -1; }
has_qat() { grep -q '^ *"qat": *{' "$1"; }
cli="$BUILD/edgeseq"

if [ ! -x "$cli" ]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD" -j 2 --target edgeseq >/dev/null 2>&1 \
  || cmake --build "$BUILD" -j 2 >/dev/null
[ -f "$DATA/cmudict/dict.txt" ] || bash scripts/fetch-data.sh "$DATA"

n=${#stages[@]}
last="${stages[$((n - 1))]}"
LAST_OUT="$(cfg_out "$last")"
mkdir -p "$LAST_OUT"
log="$LAST_OUT/recipe.log"
{
  echo "# edgeseq G2P recipe (CMUdict): scripts/train-g2p.sh $*"
  echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs"
  echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "# stages: ${stages[*]}"
  echo "# kernels: EDGESEQ_ISA=${EDGESEQ_ISA:-(best available)}"
} | tee -a "$log"

from="${FROM_STAGE:-1}"
i=0
for c in "${stages[@]}"; do
  i=$((i + 1))
  out="$(cfg_out "$c")"
  if [ "${SKIP_TRAIN:-0}" = 1 ] || [ "$i" -lt "$from" ]; then
    [ -f "$out/best/model.safetensors" ] \
      || { echo "train-g2p: stage $i skipped but $out/best is missing" >&2; exit 2; }
    echo "# stage $i ($c): not trained here, using $out/best" | tee -a "$log"
    continue
  fi
  extra=(--data "$DATA")
  [ -n "${THREADS:-}" ] && extra+=(--threads "$THREADS")
  [ -n "${MAX_STEPS:-}" ] && extra+=(--max-steps "$MAX_STEPS")
  # resume only what has a checkpoint (a stage the interruption never reached starts fresh)
  [ "${RESUME:-0}" = 1 ] && [ -e "$out/checkpoint" ] && extra+=(--resume)
  echo "# stage $i: edgeseq train $c ${extra[*]} (load $(cut -d' ' -f1-3 /proc/loadavg))" | tee -a "$log"
  start=$(date +%s)
  mkdir -p "$out"
  "$cli" train "$c" "${extra[@]}" 2>&1 | tee -a "$out/train.log" | tee -a "$log"
  end=$(date +%s)
  echo "# stage $i wall time: $((end - start)) s; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$log"
done

m="$LAST_OUT/best"
models=("$m")
if has_qat "$last"; then
  echo "# int8 export of the quantization-aware model $m:" | tee -a "$log"
  rm -rf "$LAST_OUT/int8"
  "$cli" export "$m" "$LAST_OUT/int8" --int8 2>&1 | tee -a "$log"
  twin=""
  [ "$n" -ge 2 ] && twin="$(cfg_out "${stages[$((n - 2))]}")/best"
  models=("$LAST_OUT/int8" "$m")
  [ -n "$twin" ] && models+=("$twin")
fi

tag() { # file-name tag of a model folder: int8 / qat / float
  case "$1" in
    */int8) echo int8 ;;
    "$LAST_OUT/best") has_qat "$last" && echo qat || echo float ;;
    *) echo float ;;
  esac
}
for mm in "${models[@]}"; do
  t=$(tag "$mm")
  echo "# dev split, $t model $mm:" | tee -a "$log"
  "$cli" eval -m "$mm" --task g2p --data "$DATA" --split dev --beam 4 --case original | tee -a "$log"
  "$cli" eval -m "$mm" --task g2p --data "$DATA" --split dev --beam 4 --json \
    > "$LAST_OUT/dev_metrics_beam4_$t.json"
  cat "$LAST_OUT/dev_metrics_beam4_$t.json" >> "$log"
done
if [ "${DEV_ONLY:-0}" = 1 ]; then
  echo "# DEV_ONLY=1: stopping before the test split" | tee -a "$log"
  exit 0
fi
for mm in "${models[@]}"; do
  t=$(tag "$mm")
  echo "# test split, $t model $mm (evaluated once, on the dev-selected model):" | tee -a "$log"
  "$cli" eval -m "$mm" --task g2p --data "$DATA" --split test --beam 4 --threads 1 --json \
    --errors "$LAST_OUT/test_errors_$t.tsv" | tee "$LAST_OUT/test_metrics_$t.json" | tee -a "$log"
  echo "# test split, $t model, uint8 beam (--quantized-beam):" | tee -a "$log"
  "$cli" eval -m "$mm" --task g2p --data "$DATA" --split test --beam 4 --quantized-beam --threads 1 \
    --json | tee "$LAST_OUT/test_metrics_uint8_$t.json" | tee -a "$log"
done
shipm="${models[0]}"
echo "# examples (lower, capitalised, upper case), $shipm:" | tee -a "$log"
"$cli" generate -m "$shipm" --beam 4 hello world edgeseq phoneme tomato Hello WORLD | tee -a "$log"

if [ "$ship" = 1 ]; then
  dst="models/g2p-cmudict"
  rm -rf "$dst"
  mkdir -p "$dst"
  cp "$shipm/config.json" "$shipm/model.safetensors" "$dst/"
  cp "$LAST_OUT"/dev_metrics_beam4_*.json "$LAST_OUT"/test_metrics_*.json "$dst/"
  i=0
  for c in "${stages[@]}"; do
    i=$((i + 1))
    out="$(cfg_out "$c")"
    cp "$c" "$dst/train_config_stage$i.json"
    [ -f "$out/curves.csv" ] && cp "$out/curves.csv" "$dst/curves_stage$i.csv"
    [ -f "$out/train.log" ] && cp "$out/train.log" "$dst/train_stage$i.log"
  done
  cp "$log" "$dst/recipe.log"
  cat > "$dst/recipe.sh" <<RECIPE
#!/usr/bin/env bash
# Reproduces models/g2p-cmudict from a fresh clone (build, fetch data, train
# every stage, select on dev, export int8, evaluate on test, copy here).
# See RESULTS.md for the time it takes and the numbers it gives.
set -euo pipefail
cd "\$(dirname "\$0")/../.."
STAGES="${stages[*]}" exec bash scripts/train-g2p.sh --ship
RECIPE
  chmod +x "$dst/recipe.sh"
  echo "shipped $shipm to $dst" | tee -a "$log"
fi
