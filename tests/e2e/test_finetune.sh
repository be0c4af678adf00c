#!/usr/bin/env bash
# test_finetune.sh — `edgeseq finetune` end to end on a tiny `edgeseq init`
# model (2 + 2 layers, d_model 64, the fixtures' spiece.model) learning a
# toy mapping (colour/number words English -> German):
#   - training loss goes down (last logged < 0.5 x first), dev loss logged,
#     curves.csv / curves.svg / best/ / checkpoint written;
#   - the output folder is a normal model folder: `generate` loads it and
#     reproduces a memorised target;
#   - resume: a run killed (SIGKILL) after its first checkpoint continues
#     with --resume to the last step and ends with the same step count;
#   - bad data: empty file, invalid JSON line, non-UTF-8 line, target over
#     --max-target-len each fail with exit 1 and "FILE:LINE"; --skip-bad
#     skips and counts.
#
# usage: bash test_finetune.sh CLI SRC_DIR SHARED_DIR BUILD_DIR
set -u
CLI=$1
SHARED=$3
BUILD=${4:-/tmp}
SPM=$SHARED/fixtures/tokenizer/spiece.model
TMP=$(mktemp -d "$BUILD/test_finetune.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fails=0
checks=0
ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*" >&2; }
expect() { if eval "$1"; then ok; else bad "$2"; fi; }

"$CLI" init t5-efficient-tiny-nl2-dm64-ff128-nh4-kv16 "$TMP/m" --spm "$SPM" --seed 3 >/dev/null 2>&1 \
  || { echo "FAIL: init"; exit 1; }
cat >"$TMP/train.jsonl" <<'EOF'
{"input": "colour: red", "target": "rot"}
{"input": "colour: green", "target": "grün"}
{"input": "colour: blue", "target": "blau"}
{"input": "colour: black", "target": "schwarz"}

{"input": "number: one", "target": "eins"}
{"input": "number: two", "target": "zwei"}
{"input": "number: three", "target": "drei"}
{"input": "number: four", "target": "vier"}
EOF
head -3 "$TMP/train.jsonl" >"$TMP/dev.jsonl"

# 1. learn
"$CLI" finetune -m "$TMP/m" --train "$TMP/train.jsonl" --dev "$TMP/dev.jsonl" --out "$TMP/run" \
  --steps 80 --batch 4 --lr 5e-3 --dropout 0 --eval-every 40 --save-every 40 --log-every 10 -t 2 \
  >"$TMP/out" 2>"$TMP/err"
rc=$?
expect "[ $rc -eq 0 ]" "finetune exited $rc: $(tail -2 "$TMP/err")"
first=$(awk -F, 'NR==2 {print $2}' "$TMP/run/curves.csv")
last=$(awk -F, 'END {print $2}' "$TMP/run/curves.csv")
expect "awk -v a=$first -v b=$last 'BEGIN {exit !(b < 0.5 * a)}'" "loss did not go down: $first -> $last"
ndev=$(awk -F, 'NR > 1 && $3 != "" {n++} END {print n + 0}' "$TMP/run/curves.csv")
expect "[ $ndev -eq 2 ]" "expected 2 dev losses in curves.csv, got $ndev"
for f in config.json model.safetensors spiece.model curves.svg checkpoint best/model.safetensors \
         best/config.json; do
  expect "[ -s '$TMP/run/$f' ]" "missing $f"
done
expect "grep -q 'ETA' '$TMP/err'" "no progress/ETA lines"
echo "loss $first -> $last, dev evals $ndev"

# 2. the folder loads in generate and has learned the mapping
out=$("$CLI" generate -m "$TMP/run" "colour: blue" 2>&1)
expect "[ '$out' = 'blau' ]" "generate gave '$out', expected 'blau'"
out=$("$CLI" info "$TMP/run" 2>&1)
expect "echo '$out' | grep -q '2,221,056'" "info on the output folder: $out"

# 3. kill after the first checkpoint, then resume
"$CLI" finetune -m "$TMP/m" --train "$TMP/train.jsonl" --out "$TMP/r2" --steps 60 --batch 4 \
  --lr 5e-3 --dropout 0.1 --save-every 10 --log-every 10 -t 1 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  [ -s "$TMP/r2/checkpoint" ] && break
  sleep 0.1
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
expect "[ -s '$TMP/r2/checkpoint' ]" "no checkpoint before the kill"
ck=$(cat "$TMP/r2/checkpoint" 2>/dev/null)
"$CLI" finetune -m "$TMP/m" --train "$TMP/train.jsonl" --out "$TMP/r2" --steps 60 --batch 4 \
  --lr 5e-3 --dropout 0.1 --save-every 10 --log-every 10 -t 1 --resume >"$TMP/out" 2>"$TMP/err"
rc=$?
expect "[ $rc -eq 0 ]" "resume exited $rc: $(tail -2 "$TMP/err")"
expect "grep -q 'resumed at step' '$TMP/err'" "resume did not report the step it resumed at"
expect "[ \"\$(cat '$TMP/r2/checkpoint')\" = 'step-00000060' ]" "resumed run did not reach step 60"
last=$(awk -F, 'END {print $1}' "$TMP/r2/curves.csv")
expect "[ '$last' = '60' ]" "curves.csv ends at step $last"
echo "killed after $ck, resumed to $(cat "$TMP/r2/checkpoint")"

# 4. bad data
run_bad() { # FILE EXPECTED-SUBSTRING [extra flags]
  local f=$1 want=$2
  shift 2
  "$CLI" finetune -m "$TMP/m" --train "$f" --out "$TMP/bad" --steps 1 "$@" >/dev/null 2>"$TMP/err"
  local r=$?
  expect "[ $r -eq 1 ]" "bad data $f: exit $r"
  expect "grep -qF -- '$want' '$TMP/err'" "bad data $f: message '$(cat "$TMP/err")' lacks '$want'"
  expect "[ \$(wc -l <'$TMP/err') -eq 1 ]" "bad data $f: not one error line"
}
: >"$TMP/empty.jsonl"
run_bad "$TMP/empty.jsonl" "empty.jsonl: no examples (empty file)"
printf '{"input": "a", "target": "b"}\n{"input": "a" "target": "b"}\n' >"$TMP/json.jsonl"
run_bad "$TMP/json.jsonl" "json.jsonl:2: invalid JSON"
printf '{"input": "a", "target": "b"}\n{"input": "a", "target": "b"}\n{"input": "\xff", "target": "b"}\n' >"$TMP/utf.jsonl"
run_bad "$TMP/utf.jsonl" "utf.jsonl:3: not valid UTF-8"
printf '{"input": "a", "target": "one two three four five six"}\n' >"$TMP/long.jsonl"
run_bad "$TMP/long.jsonl" "long.jsonl:1: target is" --max-target-len 4
printf '{"input": "a"}\n' >"$TMP/field.jsonl"
run_bad "$TMP/field.jsonl" 'field.jsonl:1: missing string field "target"'
cat "$TMP/train.jsonl" "$TMP/json.jsonl" >"$TMP/mixed.jsonl"
"$CLI" finetune -m "$TMP/m" --train "$TMP/mixed.jsonl" --out "$TMP/skip" --steps 2 --skip-bad \
  --save-every 0 -t 1 >/dev/null 2>"$TMP/err"
rc=$?
expect "[ $rc -eq 0 ]" "--skip-bad run exited $rc"
expect "grep -q '1 bad lines skipped (first: .*mixed.jsonl:11: invalid JSON' '$TMP/err'" \
  "--skip-bad did not count the bad line: $(cat "$TMP/err")"

echo "$checks checks, $fails failed"
[ $fails -eq 0 ]
