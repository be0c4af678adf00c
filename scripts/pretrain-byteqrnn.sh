#!/usr/bin/env bash
# pretrain-byteqrnn.sh — the recipe behind the "pretrained vs scratch" byte-model rows of
# RESULTS.md: byte-level masked span-corruption pretraining of the spam ByteQRNN shape
# (configs/spam-byteqrnn.json "model") on State-of-the-Union + Moby-Dick, then fine-tuning
# on SpamAssassin with 5% (and 100%) of the training labels from the pretrained encoder and
# from scratch (same steps, same hyper-parameters), selection on dev, test once.
#
#   bash scripts/pretrain-byteqrnn.sh pretrain [STEPS]   (default 2400; resumable)
#   bash scripts/pretrain-byteqrnn.sh finetune NAME...   (NAME: pt5 sc5 pt100 sc100)
#   bash scripts/pretrain-byteqrnn.sh test NAME...       (test ROC-AUC of OUT/NAME/best)
#
# Output under out/bytept/ (OUT=... overrides): pretrain/ (model, curves, log), ft-NAME/.
# Needs an edgeseq binary (EDGESEQ=path; default the newest build*/edgeseq) and the corpora
# (bash scripts/fetch-data.sh data/). Runs at nice 5 on THREADS threads (default 1).
#
# Pretraining (docs/training.md, "Byte-encoder pretraining"): chunks of 1,024 bytes, ~1% of
# the chunks (FNV-1a mod 100 == 0) held out; 15% of the bytes in spans of mean length 3
# replaced by 0x00 and predicted by the block head; AdamW lr 3e-3, 100 warm-up steps,
# cosine to 0, batch 32, clip 1, weight decay 0.01; dropout 0.1 / zoneout 0.05 as the model
# config says.
# Fine-tuning: configs/spam-byteqrnn-pt5.json (init_encoder = out/bytept/pretrain/best) and
# configs/spam-byteqrnn-sc5.json (random init) differ in init_encoder only; -pt100/-sc100
# likewise with all labels.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/out/bytept}
EDGESEQ=${EDGESEQ:-$(ls -t "$ROOT"/build*/edgeseq 2>/dev/null | head -1)}
DATA=${DATA:-$ROOT/data}
THREADS=${THREADS:-1}
[ -x "$EDGESEQ" ] || { echo "no edgeseq binary (build first or set EDGESEQ)" >&2; exit 1; }
cd "$ROOT"
mkdir -p "$OUT"
stage=${1:-}
shift || true
case "$stage" in
pretrain)
    STEPS=${1:-2400}
    # Moby-Dick: the chapters and front/back matter; data.txt (the whole book again) and
    # contents.txt (the table of contents) are left out.
    MOBY=("$DATA"/moby-dick/etymology.txt "$DATA"/moby-dick/extracts.txt
          "$DATA"/moby-dick/chapter_*.txt "$DATA"/moby-dick/epilogue.txt)
    mkdir -p "$OUT/pretrain"
    /usr/bin/time -v nice -n 5 "$EDGESEQ" pretrain --byte-encoder configs/spam-byteqrnn.json \
        --out "$OUT/pretrain" --resume --steps "$STEPS" --batch 32 --chunk 1024 \
        --lr 3e-3 --warmup 100 --eval-every 200 --save-every 200 --log-every 20 \
        --seed 1 --threads "$THREADS" "$DATA"/sotu "${MOBY[@]}" 2>&1 | tee -a "$OUT/pretrain/pretrain.log"
    ;;
finetune)
    for name in "$@"; do
        mkdir -p "$OUT/ft-$name"
        /usr/bin/time -v nice -n 5 "$EDGESEQ" train "configs/spam-byteqrnn-$name.json" \
            --out "$OUT/ft-$name" --threads "$THREADS" 2>&1 | tee "$OUT/ft-$name/train.log"
    done
    ;;
test)
    for name in "$@"; do
        "$EDGESEQ" eval -m "$OUT/ft-$name/best" --data "$DATA" --split test --json \
            > "$OUT/ft-$name/test_metrics.json"
        cat "$OUT/ft-$name/test_metrics.json"
    done
    ;;
*)
    sed -n 2,24p "$0"
    exit 2
    ;;
esac
