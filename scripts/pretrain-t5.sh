#!/usr/bin/env bash
# pretrain-t5.sh — the recipe behind models/t5-pretrain-sotu/: T5 span-corruption
# pretraining of a narrow T5-Efficient on the State-of-the-Union + Moby-Dick corpora.
#
#   bash scripts/pretrain-t5.sh [OUT_DIR] [STEPS]      (defaults: out/pretrain/sotu, 100000)
#
# Runs until STEPS or until stopped (Ctrl-C / SIGTERM write a checkpoint, the curves and
# the model, then exit); re-running the same command resumes. Needs build-*/edgeseq
# (EDGESEQ=path overrides) and the corpora (bash scripts/fetch-data.sh data/).
#
# Choices (justified in RESULTS.md, "T5 span-corruption pretraining"):
#   model   t5-efficient-tiny-nl2-dm128-ff512-kv32-nh4: 2+2 layers, d_model 128, d_ff 512,
#           4 heads of 32 — the 2-core machine is shared by 8 jobs, so ~4 GFLOP/s is what a
#           run gets; t5-efficient-tiny (d_model 256, 4+4 layers) is ~4x the cost per row.
#   vocab   the shared T5 SentencePiece model (32000 pieces + 100 sentinels, vocab 32128).
#   data    chunks of 141 tokens -> inputs of exactly 128 tokens, targets of 29 (density
#           0.15, mean span 3); ~1% of paragraphs (FNV-1a hash mod 100 == 0) held out.
#   optim   Adafactor (factored, parameter-scaled, update clip 1, no beta1), lr 0.01
#           constant for the first 10000 steps then 0.01*sqrt(10000/step) (T5), batch 16,
#           dropout 0 (T5 v1.1 pretraining).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/out/pretrain/sotu}
STEPS=${2:-100000}
EDGESEQ=${EDGESEQ:-$(ls -t "$ROOT"/build*/edgeseq 2>/dev/null | head -1)}
SPM=${SPM:-$ROOT/../shared/fixtures/tokenizer/spiece.model}
DATA=${DATA:-$ROOT/data}
[ -x "$EDGESEQ" ] || { echo "no edgeseq binary (build first or set EDGESEQ)" >&2; exit 1; }
# Moby-Dick: the chapters and front/back matter; data.txt (the whole book again) and
# contents.txt (the table of contents) are left out.
MOBY=("$DATA"/moby-dick/etymology.txt "$DATA"/moby-dick/extracts.txt
      "$DATA"/moby-dick/chapter_*.txt "$DATA"/moby-dick/epilogue.txt)
mkdir -p "$OUT"
exec "$EDGESEQ" pretrain --spm "$SPM" --init t5-efficient-tiny-nl2-dm128-ff512-kv32-nh4 \
    --out "$OUT" --resume --steps "$STEPS" --batch 16 --input-len 128 \
    --lr 0.01 --warmup 10000 --eval-every 50 --save-every 50 --log-every 10 \
    --max-val-rows 128 --seed 1 --threads "${THREADS:-2}" \
    "$DATA"/sotu "${MOBY[@]}"
