#!/usr/bin/env bash
# test_pretrain_byte.sh — `edgeseq pretrain --byte-encoder` end to end on a tiny ByteQRNN
# and two Moby-Dick chapters (tests/e2e/data/pretrain-tiny.txt):
#   - the run writes the model folder, best/, a checkpoint, curves; the validation
#     masked-byte loss falls; the data summary has the documented objective;
#   - the output folder is a byte classifier that `edgeseq classify` loads;
#   - --resume continues a stopped run to the same final weights as a straight run;
#   - usage errors (no --out, a funnel encoder) fail with clear messages.
# usage: bash test_pretrain_byte.sh CLI SRC_DIR SHARED_DIR BUILD_DIR
set -u
CLI=$1
SRC=$2
BUILD=${4:-/tmp}
TXT=$SRC/tests/e2e/data/pretrain-tiny.txt
TMP=$(mktemp -d "$BUILD/test_pretrain_byte.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fails=0
checks=0
ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*" >&2; }
expect() { if eval "$1"; then ok; else bad "$2"; fi; }

cat >"$TMP/model.json" <<'JSON'
{"model": {"model_type": "edgeseq-byte-classifier", "encoder": "byteqrnn", "labels": ["ham", "spam"],
 "max_bytes": 128, "d_model": 12, "gbst_kernel": 3, "gbst_blocks": 2, "downsample": 4,
 "qrnn_layers": 1, "qrnn_hidden": 8, "zoneout": 0.05, "dropout": 0.1}}
JSON
COMMON=(--byte-encoder "$TMP/model.json" --chunk 64 --batch 8 --lr 1e-2 --warmup 2 --eval-every 10
        --save-every 10 --log-every 5 --seed 3 -t 1)

# 1. a 30-step run
"$CLI" pretrain "${COMMON[@]}" --out "$TMP/a" --steps 30 "$TXT" >"$TMP/a.out" 2>"$TMP/a.err"
rc=$?
expect "[ $rc -eq 0 ]" "pretrain exit $rc: $(tail -3 "$TMP/a.err")"
expect "grep -q 'noise density 0.15, mean span 3, mask byte 0x00' '$TMP/a.err'" "summary: $(head -1 "$TMP/a.err")"
for f in config.json model.safetensors best/model.safetensors best/pretrain_metrics.json checkpoint \
         step-00000030/pt_state.safetensors curves.csv curves.svg; do
    expect "[ -s '$TMP/a/$f' ]" "missing $f"
done
v0=$(grep '^0,val,' "$TMP/a/curves.csv" | cut -d, -f3)
v1=$(grep '^30,val,' "$TMP/a/curves.csv" | cut -d, -f3)
expect "awk 'BEGIN{exit !($v1 < $v0 - 0.5)}'" "validation loss $v0 -> $v1: no learning"
# 2. the folder is a classifier (untrained head) that classify loads
echo "hello world" >"$TMP/doc.txt"
expect "'$CLI' classify -m '$TMP/a' '$TMP/doc.txt' >/dev/null 2>&1" "classify cannot load the pretrained folder"
# 3. resume: back to the step-20 checkpoint of a 30-step run (the LR schedule depends on
#    --steps), continue to 30: the same final weights as the straight run
"$CLI" pretrain "${COMMON[@]}" --out "$TMP/c" --steps 30 "$TXT" >/dev/null 2>&1
rm -rf "$TMP/c/step-00000030" "$TMP/c/config.json" "$TMP/c/model.safetensors"
echo step-00000020 >"$TMP/c/checkpoint"
"$CLI" pretrain "${COMMON[@]}" --out "$TMP/c" --steps 30 --resume "$TXT" >/dev/null 2>"$TMP/c.err"
expect "grep -q 'resumed .* at step 20' '$TMP/c.err'" "resume: $(head -2 "$TMP/c.err")"
expect "cmp -s '$TMP/a/model.safetensors' '$TMP/c/model.safetensors'" "resumed run differs from the straight run"
# 4. errors
"$CLI" pretrain --byte-encoder "$TMP/model.json" "$TXT" >/dev/null 2>"$TMP/e1.err"
expect "[ $? -eq 2 ] && grep -q 'missing --out' '$TMP/e1.err'" "no --out: $(cat "$TMP/e1.err")"
sed 's/"byteqrnn"/"bytefunnel"/; s/"qrnn_layers": 1/"n_layers": 2, "n_heads": 2, "d_ff": 16, "pool_windows": [1, 2]/' \
    "$TMP/model.json" >"$TMP/funnel.json"
"$CLI" pretrain --byte-encoder "$TMP/funnel.json" --out "$TMP/f" --chunk 64 "$TXT" >/dev/null 2>"$TMP/e2.err"
expect "[ $? -eq 1 ] && grep -q 'bytefunnel pools positions' '$TMP/e2.err'" "funnel: $(cat "$TMP/e2.err")"

echo "$((checks - fails)) passed, $fails failed"
[ $fails -eq 0 ]
