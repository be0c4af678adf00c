#!/usr/bin/env bash
# t5-transfer.sh — pretrained vs scratch T5 on SpamAssassin and CMUdict G2P, with 100% and 5%
# of the training labels (RESULTS.md, "Pretrained vs scratch (T5 and byte models)").
#
#   bash scripts/t5-transfer.sh prep              snapshot the pretrained model, init scratch, export data
#   bash scripts/t5-transfer.sh train RUN...      fine-tune runs (RUN = TASK-PCT-INIT, e.g. spam-5-pt)
#   bash scripts/t5-transfer.sh eval RUN...       dev + test metrics of RUN's dev-selected checkpoint
#   bash scripts/t5-transfer.sh table             the RESULTS.md table from OUT
#   bash scripts/t5-transfer.sh all               prep, the 8 runs (5% first), evals; PAR=N in parallel
#
# Environment: EDGESEQ (default /tmp/edgeseq-xfer, a frozen copy of build-t5xfer/edgeseq),
# EVAL_EDGESEQ (default EDGESEQ; the runs of RESULTS.md used a later build with eval --fraction),
# OUT (out/xfer), DATA (data), PT (out/pretrain/sotu/best), SPM (the shared T5 spiece.model).
#
# Design: for each task the pretrained and the scratch run get the same data, steps, batch,
# optimizer and seed; only the initial weights differ. Scratch = `edgeseq init` of the same
# shape (t5-efficient-tiny-nl2-dm128-ff512-kv32-nh4) with the same tokenizer, seed 1.
#   optimizer  Adafactor (HF fine-tuning setting: external lr, no relative step), lr 1e-3
#              constant, dropout 0.1, seed 1, 1 thread
#   spam       batch 16, input <= 128 tokens (subject + body, cut at a space), target spam|ham;
#              5%: 150 steps (240 examples: 10 epochs), dev loss every 15 steps;
#              100%: 150 steps (4,807 examples: 0.5 epoch), dev loss every 15 steps
#   g2p        batch 16, "phonemes: word" -> "T OW0 M AA1 T OW0" (every variant);
#              5%: 400 steps (6,021 lines: 1.06 epochs), 100%: 400 steps (120,450 lines: 0.05
#              epoch), dev loss every 100 steps on the first 1,000 dev lines (dev-sel.jsonl)
# 5% and 100% get the same steps too: the label fraction changes only how many distinct
# examples those steps see.
# Budgets are small because the 2-core machine was shared by ~20 runnable jobs (load 22) when
# this ran: a nice-5 job got ~5% of a core. They are the same for pretrained and scratch.
# Selection: finetune keeps OUT/RUN/best at the lowest dev loss; eval scores that folder once on
# dev and once on test: spam all messages; g2p the seeded word subsets of `eval --fraction`
# (dev 0.08 = 500 of 6,245 words, test 0.16 = 989 of 6,182 words, seed 1).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EDGESEQ=${EDGESEQ:-/tmp/edgeseq-xfer}
EVAL_EDGESEQ=${EVAL_EDGESEQ:-$EDGESEQ}
OUT=${OUT:-$ROOT/out/xfer}
DATA=${DATA:-$ROOT/data}
PT=${PT:-$ROOT/out/pretrain/sotu/best}
SPM=${SPM:-$ROOT/../shared/fixtures/tokenizer/spiece.model}
SHAPE=t5-efficient-tiny-nl2-dm128-ff512-kv32-nh4
NICE=${NICE:-nice -n 5}
[ -x "$EDGESEQ" ] || { echo "no edgeseq binary at $EDGESEQ (set EDGESEQ)" >&2; exit 1; }

prep() {
    mkdir -p "$OUT/data"
    if [ ! -d "$OUT/init-pretrained" ]; then
        # snapshot: the background pretraining keeps replacing PT
        cp -r "$PT" "$OUT/init-pretrained.tmp"
        step=$(awk -F, 'NR > 1 && $3 != "" && (best == "" || $3 < best) {best = $3; s = $1} END {print s, best}' \
            "$(dirname "$PT")/curves.csv")
        echo "source $PT; best dev step and loss: $step; copied $(date -u +%FT%TZ)" \
            > "$OUT/init-pretrained.tmp/SOURCE.txt"
        mv "$OUT/init-pretrained.tmp" "$OUT/init-pretrained"
    fi
    [ -d "$OUT/init-scratch" ] || "$EDGESEQ" init "$SHAPE" "$OUT/init-scratch" --spm "$SPM" --seed 1 --threads 1
    local d="$OUT/data"
    for s in train dev test; do
        "$EDGESEQ" data t5-jsonl --task spam --split $s --spm "$SPM" --max-src-len 128 "$DATA" > "$d/spam-$s.jsonl"
        "$EDGESEQ" data t5-jsonl --task g2p --split $s "$DATA" > "$d/g2p-$s.jsonl"
    done
    "$EDGESEQ" data t5-jsonl --task spam --split train --fraction 0.05 --seed 1 --spm "$SPM" \
        --max-src-len 128 "$DATA" > "$d/spam-train-5.jsonl"
    "$EDGESEQ" data t5-jsonl --task g2p --split train --fraction 0.05 --seed 1 "$DATA" > "$d/g2p-train-5.jsonl"
    cp "$d/spam-dev.jsonl" "$d/spam-dev-sel.jsonl"
    head -n 1000 "$d/g2p-dev.jsonl" > "$d/g2p-dev-sel.jsonl"
    wc -l "$d"/*.jsonl
}

train() { # RUN = TASK-PCT-INIT
    local run=$1 task pct init
    IFS=- read -r task pct init <<<"$run"
    local model="$OUT/init-pretrained" train="$OUT/data/$task-train.jsonl" args
    [ "$init" = scratch ] && model="$OUT/init-scratch"
    [ "$pct" = 5 ] && train="$OUT/data/$task-train-5.jsonl"
    case "$task-$pct" in
        spam-5)   args=(--steps 150 --eval-every 15 --save-every 50 --batch 16 --max-src-len 128 --max-target-len 8) ;;
        spam-100) args=(--steps 150 --eval-every 15 --save-every 50 --batch 16 --max-src-len 128 --max-target-len 8) ;;
        g2p-5)    args=(--steps 400 --eval-every 100 --save-every 100 --batch 16 --max-src-len 64 --max-target-len 128) ;;
        g2p-100)  args=(--steps 400 --eval-every 100 --save-every 100 --batch 16 --max-src-len 64 --max-target-len 128) ;;
        *) echo "unknown run $run" >&2; return 2 ;;
    esac
    mkdir -p "$OUT/$run"
    local t0; t0=$(date +%s)
    $NICE "$EDGESEQ" finetune -m "$model" --train "$train" --dev "$OUT/data/$task-dev-sel.jsonl" \
        --out "$OUT/$run" --resume "${args[@]}" --lr 1e-3 --schedule constant --dropout 0.1 \
        --seed 1 --threads 1 --log-every 10 >> "$OUT/$run/train.log" 2>&1
    echo "$run wall_s $(( $(date +%s) - t0 ))" >> "$OUT/$run/train.log"
}

evaluate() {
    local run=$1 task; task=${run%%-*}
    local m="$OUT/$run/best"
    for s in dev test; do
        local lim=()
        # g2p: seeded word subsets (~500 dev, ~990 test words): generation is the costly part
        [ "$task" = g2p ] && [ $s = dev ] && lim=(--fraction 0.08 --seed 1)
        [ "$task" = g2p ] && [ $s = test ] && lim=(--fraction 0.16 --seed 1)
        $NICE "$EVAL_EDGESEQ" eval -m "$m" --task "$task" --data "$DATA" --split $s --threads 1 --json \
            "${lim[@]}" > "$OUT/$run/eval-$s.json"
    done
    cat "$OUT/$run"/eval-*.json
}

jnum() { { sed -n "s/.*\"$2\": *\([-0-9.eE+]*\).*/\1/p" "$1" 2>/dev/null || true; } | head -1; }
pct() { [ -n "$1" ] && awk -v x="$1" 'BEGIN { printf "%.2f%%", 100 * x }' || printf 'n/a'; }

table() { # markdown rows of RESULTS.md from OUT/RUN/{curves.csv,eval-*.json}
    echo "| task | labels | init | steps (epochs) | wall | best dev loss (step) | dev | test |"
    echo "|---|---|---|---|---|---|---|---|"
    for run in "${RUNS[@]}"; do
        local task pct init d="$OUT/$run"
        IFS=- read -r task pct init <<<"$run"
        local n; n=$(wc -l < "$OUT/data/$task-train$([ "$pct" = 5 ] && echo -5).jsonl")
        local steps; steps=$(awk -F, 'NR > 1 && $1 > m { m = $1 } END { print m + 0 }' "$d/curves.csv" 2>/dev/null)
        local ep; ep=$(awk -v s="$steps" -v n="$n" 'BEGIN { printf "%.2f", s * 16 / n }')
        local wall; wall=$(awk -F, 'NR > 1 && $6 > m { m = $6 } END { printf "%d min %02d s", m / 60, m % 60 }' "$d/curves.csv" 2>/dev/null)
        local best; best=$(awk -F, 'NR > 1 && $3 != "" && (b == "" || $3 < b) { b = $3; s = $1 } END { printf "%.4f (%d)", b, s }' "$d/curves.csv" 2>/dev/null)
        local dev test
        if [ "$task" = spam ]; then
            dev="AUC $(jnum "$d/eval-dev.json" roc_auc)"
            test="AUC **$(jnum "$d/eval-test.json" roc_auc)**, acc $(jnum "$d/eval-test.json" accuracy)"
        else
            dev="WER/PER no stress $(pct "$(jnum "$d/eval-dev.json" wer_no_stress)") / $(pct "$(jnum "$d/eval-dev.json" per_no_stress)")"
            test="no stress **$(pct "$(jnum "$d/eval-test.json" wer_no_stress)")** / $(pct "$(jnum "$d/eval-test.json" per_no_stress)"); with stress $(pct "$(jnum "$d/eval-test.json" wer)") / $(pct "$(jnum "$d/eval-test.json" per)")"
        fi
        echo "| $task | $pct% ($n) | $init | $steps ($ep) | $wall | $best | $dev | $test |"
    done
}

RUNS=(spam-5-pt spam-5-scratch g2p-5-pt g2p-5-scratch spam-100-pt spam-100-scratch g2p-100-pt g2p-100-scratch)
cmd=${1:-all}; shift || true
case "$cmd" in
    prep) prep ;;
    train) for r in "$@"; do train "$r"; done ;;
    eval) for r in "$@"; do evaluate "$r"; done ;;
    table) table ;;
    all)
        prep
        printf '%s\n' "${RUNS[@]}" | xargs -P "${PAR:-1}" -I{} bash "$0" train {}
        printf '%s\n' "${RUNS[@]}" | xargs -P "${PAR:-1}" -I{} bash "$0" eval {}
        ;;
    *) echo "usage: $0 prep | train RUN... | eval RUN... | table | all" >&2; exit 2 ;;
esac
