#!/usr/bin/env bash
# test_finetune_data.sh — `edgeseq finetune` on bad training data, with the
# fixture model tiny-v11:
#   1. each kind of bad data fails with exit 1 and ONE error line naming the
#      file and the 1-based line: empty file, only blank lines, invalid
#      JSON, not an object, missing "input", non-string "target", text after
#      the object, non-UTF-8 (byte offset), input / target longer than
#      --max-src-len / --max-target-len (token counts), a bad --dev file
#      (named), a missing file; a failed start creates no output folder;
#      a UTF-8 byte-order mark is accepted;
#   2. --skip-bad skips the bad lines (one of each kind above), trains on
#      the rest and reports the count with the first message; a file whose
#      lines are all bad still fails;
#   3. nothing trained is lost: a --resume with bad data fails before
#      touching the folder (every file byte-identical), and a run that
#      fails mid-way (OUT/best blocked by a file) leaves its last checkpoint,
#      from which a resume finishes with the same model as an
#      uninterrupted run.
#
# usage: bash test_finetune_data.sh CLI SRC_DIR SHARED_DIR BUILD_DIR
set -u
CLI=$1
SHARED=$3
BUILD=${4:-/tmp}
M=$SHARED/fixtures/t5/tiny-v11
TMP=$(mktemp -d "$BUILD/test_finetune_data.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fails=0
checks=0
ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL: $*" >&2; }
expect() { if eval "$1"; then ok; else bad "$2"; fi; }
tree_sha() { (cd "$1" && find . -type f | sort | xargs sha256sum) 2>/dev/null; }

G1='{"input": "colour: red", "target": "rot"}'
G2='{"input": "colour: blue", "target": "blau"}'
G3='{"input": "number: one", "target": "eins"}'
G4='{"input": "number: two", "target": "zwei"}'
printf '%s\n' "$G1" "$G2" "$G3" "$G4" >"$TMP/good.jsonl"

# 1. one error line naming FILE:LINE, exit 1, no output folder
n=0
run_bad() { # FILE EXPECTED [extra flags]
  local f=$1 want=$2
  shift 2
  n=$((n + 1))
  "$CLI" finetune -m "$M" --train "$f" --out "$TMP/o$n" --steps 1 "$@" >/dev/null 2>"$TMP/err"
  local r=$?
  expect "[ $r -eq 1 ]" "$(basename "$f"): exit $r"
  expect "grep -qF -- '$want' '$TMP/err'" "$(basename "$f"): '$(cat "$TMP/err")' lacks '$want'"
  expect "[ \$(wc -l <'$TMP/err') -eq 1 ]" "$(basename "$f"): not one error line: $(cat "$TMP/err")"
  expect "[ ! -e '$TMP/o$n' ]" "$(basename "$f"): a failed start created the output folder"
}
: >"$TMP/empty.jsonl"
run_bad "$TMP/empty.jsonl" "empty.jsonl: no examples (empty file)"
printf '\n   \n\n' >"$TMP/blank.jsonl"
run_bad "$TMP/blank.jsonl" "blank.jsonl: no examples (only blank lines)"
printf '%s\n{"input": "a" "target": "b"}\n' "$G1" >"$TMP/json.jsonl"
run_bad "$TMP/json.jsonl" "json.jsonl:2: invalid JSON"
printf '%s\n%s\n["input", "target"]\n' "$G1" "$G2" >"$TMP/array.jsonl"
run_bad "$TMP/array.jsonl" "array.jsonl:3: expected a JSON object"
printf '{"text": "a", "target": "b"}\n' >"$TMP/noinput.jsonl"
run_bad "$TMP/noinput.jsonl" 'noinput.jsonl:1: missing string field "input"'
printf '%s\n{"input": "a", "target": 3}\n' "$G1" >"$TMP/num.jsonl"
run_bad "$TMP/num.jsonl" 'num.jsonl:2: missing string field "target"'
printf '%s x\n' "$G1" >"$TMP/trail.jsonl"
run_bad "$TMP/trail.jsonl" "trail.jsonl:1: unexpected text after the JSON object"
printf '%s\n%s\n{"input": "caf\xe9", "target": "b"}\n' "$G1" "$G2" >"$TMP/latin1.jsonl"
run_bad "$TMP/latin1.jsonl" "latin1.jsonl:3: not valid UTF-8 (byte 15 of the line)"
printf '%s\n{"input": "one two three four five six seven", "target": "b"}\n' "$G1" >"$TMP/longin.jsonl"
run_bad "$TMP/longin.jsonl" "longin.jsonl:2: input is" --max-src-len 6
expect "grep -q 'tokens (with </s>), longer than the limit of 6' '$TMP/err'" "input limit message: $(cat "$TMP/err")"
printf '{"input": "a", "target": "one two three four five six"}\n' >"$TMP/longtgt.jsonl"
run_bad "$TMP/longtgt.jsonl" "longtgt.jsonl:1: target is" --max-target-len 4
printf '%s\n\xff\n' "$G1" >"$TMP/devbad.jsonl"
run_bad "$TMP/good.jsonl" "devbad.jsonl:2: not valid UTF-8" --dev "$TMP/devbad.jsonl"
run_bad "$TMP/missing.jsonl" "missing.jsonl: cannot open"
# a byte-order mark before the first line is accepted
printf '\xef\xbb\xbf%s\n%s\n' "$G1" "$G2" >"$TMP/bom.jsonl"
"$CLI" finetune -m "$M" --train "$TMP/bom.jsonl" --out "$TMP/bom" --steps 1 --save-every 0 -t 1 \
  >/dev/null 2>"$TMP/err"
expect "[ $? -eq 0 ] && grep -q 'data: 2 training examples' '$TMP/err'" "BOM file: $(cat "$TMP/err")"

# 2. --skip-bad: one bad line of each kind between good ones
{
  echo "$G1"
  echo '{"input": "a" "target": "b"}'
  echo "$G2"
  echo '["input", "target"]'
  echo '{"text": "a", "target": "b"}'
  printf '{"input": "caf\xe9", "target": "b"}\n'
  echo "$G3"
  echo '{"input": "a", "target": "one two three four five six seven eight nine ten"}'
  echo "$G4"
} >"$TMP/mixed.jsonl"
"$CLI" finetune -m "$M" --train "$TMP/mixed.jsonl" --out "$TMP/skip" --steps 2 --skip-bad \
  --max-target-len 8 --save-every 0 -t 1 >/dev/null 2>"$TMP/err"
rc=$?
expect "[ $rc -eq 0 ]" "--skip-bad run exited $rc: $(cat "$TMP/err")"
expect "grep -q 'data: 4 training examples, 0 dev examples, 5 bad lines skipped (first: .*mixed.jsonl:2: invalid JSON' '$TMP/err'" \
  "--skip-bad summary: $(head -1 "$TMP/err")"
expect "[ -s '$TMP/skip/model.safetensors' ]" "--skip-bad run wrote no model"
printf '%s\n' '[1]' '{"input": 1, "target": "b"}' >"$TMP/allbad.jsonl"
run_bad "$TMP/allbad.jsonl" "allbad.jsonl: no examples (every line was bad and skipped)" --skip-bad

# 3. nothing trained is lost
COMMON=(-m "$M" --train "$TMP/good.jsonl" --batch 2 --lr 3e-3 --dropout 0 --log-every 1 --seed 3 -t 1)
"$CLI" finetune "${COMMON[@]}" --steps 4 --save-every 2 --out "$TMP/run" >/dev/null 2>"$TMP/err"
expect "[ $? -eq 0 ] && [ \"\$(cat '$TMP/run/checkpoint')\" = step-00000004 ]" "first run: $(tail -1 "$TMP/err")"
before=$(tree_sha "$TMP/run")
cat "$TMP/good.jsonl" "$TMP/json.jsonl" >"$TMP/grown.jsonl"
"$CLI" finetune "${COMMON[@]}" --train "$TMP/grown.jsonl" --steps 8 --resume --out "$TMP/run" \
  >/dev/null 2>"$TMP/err"
rc=$?
expect "[ $rc -eq 1 ] && grep -q 'grown.jsonl:6: invalid JSON' '$TMP/err'" "resume on bad data: rc $rc $(cat "$TMP/err")"
expect "[ \"\$(tree_sha '$TMP/run')\" = '$before' ]" "a resume that failed on bad data changed the output folder"

# mid-run failure: OUT/best is a file, so saving the best model at the
# first dev evaluation (step 6) fails; the step-4 checkpoint must survive
: >"$TMP/run/best"
"$CLI" finetune "${COMMON[@]}" --dev "$TMP/good.jsonl" --eval-every 6 --steps 8 --save-every 4 \
  --resume --out "$TMP/run" >/dev/null 2>"$TMP/err"
rc=$?
expect "[ $rc -eq 1 ] && grep -q 'best' '$TMP/err'" "blocked best/: rc $rc $(cat "$TMP/err")"
expect "[ \"\$(cat '$TMP/run/checkpoint')\" = step-00000004 ] && [ -s '$TMP/run/step-00000004/optim.safetensors' ]" \
  "the last checkpoint did not survive the failure: $(ls "$TMP/run")"
rm -f "$TMP/run/best"
"$CLI" finetune "${COMMON[@]}" --dev "$TMP/good.jsonl" --eval-every 6 --steps 8 --save-every 4 \
  --resume --out "$TMP/run" >/dev/null 2>"$TMP/err"
expect "[ $? -eq 0 ] && grep -q 'resumed at step 4' '$TMP/err'" "resume after the failure: $(tail -2 "$TMP/err")"
"$CLI" finetune "${COMMON[@]}" --dev "$TMP/good.jsonl" --eval-every 6 --steps 8 --save-every 4 \
  --out "$TMP/ref" >/dev/null 2>"$TMP/err"
a=$(sha256sum <"$TMP/run/model.safetensors")
b=$(sha256sum <"$TMP/ref/model.safetensors")
expect "[ '$a' = '$b' ]" "failed + resumed run differs from an uninterrupted one"
echo "mid-run failure: checkpoint kept, resumed model $( [ "$a" = "$b" ] && echo identical || echo DIFFERENT)"

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
