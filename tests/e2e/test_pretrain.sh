#!/usr/bin/env bash
# test_pretrain.sh — `edgeseq pretrain` end to end on a tiny random model
# (1 + 1 layers, d_model 32, the fixtures' spiece.model) and a committed tiny
# text (tests/e2e/data/pretrain-tiny.txt, two Moby-Dick chapters):
#   - data summary: inputs of exactly --input-len tokens, HF's raw/target
#     lengths (input 32 -> chunks of 34, targets 8), 2 held-out paragraphs;
#   - validation loss logged at step 0 and decreasing (last < first - 1 nat),
#     curves.csv / curves.svg / best/ / checkpoint written;
#   - the output folder loads in `generate` and `info`; `pretrain --examples`
#     shows held-out rows with <extra_id_0>, <extra_id_1> in input and target;
#   - resume: 10 steps, then --resume to 20 gives the same step-20 losses
#     as an uninterrupted 20-step run (same data order, masks, optimizer);
#   - errors: missing input file, too little text, no --spm: exit 1/2 with
#     a message naming the problem.
#
# usage: bash test_pretrain.sh CLI SRC_DIR SHARED_DIR BUILD_DIR
set -u
CLI=$1
SRC=$2
SHARED=$3
BUILD=${4:-/tmp}
SPM=$SHARED/fixtures/tokenizer/spiece.model
TXT=$SRC/tests/e2e/data/pretrain-tiny.txt
TMP=$(mktemp -d "$BUILD/test_pretrain.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fails=0
checks=0
ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*" >&2; }
expect() { if eval "$1"; then ok; else bad "$2"; fi; }

COMMON=(--spm "$SPM" --init t5-efficient-tiny-nl1-dm32-ff64-kv8-nh2 --input-len 32 --batch 4
        --eval-every 10 --save-every 10 --log-every 10 --seed 7 -t 1)

# 1. a 20-step run
"$CLI" pretrain "${COMMON[@]}" --out "$TMP/a" --steps 20 "$TXT" >"$TMP/a.out" 2>"$TMP/a.err"
rc=$?
expect "[ $rc -eq 0 ]" "pretrain exit $rc: $(tail -3 "$TMP/a.err")"
expect "grep -q 'chunks of 34 tokens -> input 32, target 8' '$TMP/a.err'" "data summary: $(head -1 "$TMP/a.err")"
expect "grep -q '(2 held out)' '$TMP/a.err'" "held-out paragraph: $(head -1 "$TMP/a.err")"
for f in curves.csv curves.svg checkpoint config.json model.safetensors spiece.model best/model.safetensors; do
  expect "[ -s '$TMP/a/$f' ]" "missing $f"
done
v0=$(awk -F, '$1 == 0 {print $3}' "$TMP/a/curves.csv")
v20=$(awk -F, '$1 == 20 {print $3}' "$TMP/a/curves.csv")
echo "validation loss: step 0 $v0, step 20 $v20"
expect "awk -v a='$v0' -v b='$v20' 'BEGIN { exit !(a > 10 && b < a - 1) }'" "val loss did not decrease: $v0 -> $v20"
expect "grep -q 'validation loss' '$TMP/a/curves.svg'" "svg without the validation series"

# 2. the output folder is a model folder
"$CLI" info "$TMP/a" >"$TMP/info.out" 2>&1
expect "[ $? -eq 0 ]" "info failed: $(cat "$TMP/info.out")"
"$CLI" generate -m "$TMP/a" -n 8 "Call me <extra_id_0> years ago" >"$TMP/gen.out" 2>"$TMP/gen.err"
expect "[ $? -eq 0 ]" "generate failed: $(cat "$TMP/gen.err")"

# span-filling examples on the held-out rows: sentinel layout in input and target
"$CLI" pretrain -m "$TMP/a" --examples 2 --input-len 32 -t 1 "$TXT" >"$TMP/ex.out" 2>"$TMP/ex.err"
expect "[ $? -eq 0 ]" "examples failed: $(cat "$TMP/ex.err")"
expect "[ $(grep -c '^\[[01]\] input: .*<extra_id_0>.*<extra_id_1>' "$TMP/ex.out") -eq 2 ]" "examples input: $(cat "$TMP/ex.out")"
expect "[ $(grep -c '^    target: *<extra_id_0>.*<extra_id_1>' "$TMP/ex.out") -eq 2 ]" "examples target: $(cat "$TMP/ex.out")"
expect "[ $(grep -c '^    predicted:' "$TMP/ex.out") -eq 2 ]" "examples predicted: $(cat "$TMP/ex.out")"

# 3. resume: 10 steps, then continue to 20
"$CLI" pretrain "${COMMON[@]}" --out "$TMP/b" --steps 10 "$TXT" >/dev/null 2>"$TMP/b1.err"
expect "[ $? -eq 0 ]" "first half failed: $(tail -2 "$TMP/b1.err")"
# the curves' elapsed_s (last column) must run on across the resume: mark the first half's
# last row with a large clock value; the resumed rows must start from it
awk -F, 'BEGIN { OFS = "," } NR > 1 && $1 == 10 { $NF = "1000.000" } { print }' "$TMP/b/curves.csv" \
  >"$TMP/b/curves.tmp" && mv "$TMP/b/curves.tmp" "$TMP/b/curves.csv"
"$CLI" pretrain "${COMMON[@]}" --out "$TMP/b" --steps 20 --resume "$TXT" >/dev/null 2>"$TMP/b2.err"
expect "[ $? -eq 0 ]" "resumed half failed: $(tail -2 "$TMP/b2.err")"
expect "grep -q 'resumed at step 10' '$TMP/b2.err'" "no resume message: $(cat "$TMP/b2.err")"
ra=$(awk -F, '$1 == 20 {print $2, $3}' "$TMP/a/curves.csv")
rb=$(awk -F, '$1 == 20 {print $2, $3}' "$TMP/b/curves.csv")
expect "[ -n '$ra' ] && [ '$ra' = '$rb' ]" "resumed run differs at step 20: '$ra' vs '$rb'"
expect "[ $(grep -c '^0,' "$TMP/b/curves.csv") -eq 1 ]" "resumed curves.csv lost or duplicated rows"
e20=$(awk -F, '$1 == 20 { print $NF }' "$TMP/b/curves.csv")
expect "awk -v e='$e20' 'BEGIN { exit !(e >= 1000) }'" "elapsed_s at step 20 restarted after resume: '$e20'"

# 4. errors
"$CLI" pretrain "${COMMON[@]}" --out "$TMP/c" --steps 2 "$TMP/nope.txt" >/dev/null 2>"$TMP/c.err"
rc=$?
expect "[ $rc -eq 1 ] && grep -q 'nope.txt: no such file' '$TMP/c.err'" "missing file: rc $rc $(cat "$TMP/c.err")"
head -c 300 "$TXT" >"$TMP/small.txt"
"$CLI" pretrain "${COMMON[@]}" --out "$TMP/d" --steps 2 "$TMP/small.txt" >/dev/null 2>"$TMP/d.err"
rc=$?
expect "[ $rc -eq 1 ] && grep -q 'too little text' '$TMP/d.err'" "small text: rc $rc $(cat "$TMP/d.err")"
"$CLI" pretrain --out "$TMP/e" --steps 2 "$TXT" >/dev/null 2>"$TMP/e.err"
rc=$?
expect "[ $rc -eq 2 ] && grep -q 'spm' '$TMP/e.err'" "no --spm: rc $rc $(cat "$TMP/e.err")"

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
