#!/usr/bin/env bash
# test_cli.sh — acceptance tests of the `edgeseq` command-line tool.
#
# usage: bash test_cli.sh CLI SRC_DIR SHARED_DIR BUILD_DIR
#
# Checks, against the reference fixtures (../shared/fixtures/README.md §3):
#   generate (greedy, EOS ignored, 16 tokens) reproduces greedy_ids row 0;
#   generate --beam 4 reproduces beam4_ids row 0 and its score;
#   score reproduces target_logprob of all 3 rows for both checkpoints;
#   init t5-efficient-small + info shows 60,506,624 parameters, and the new
#   folder generates;
# and that every kind of bad input gives exactly one error line, the
# documented exit code (1 run-time, 2 usage) and never a crash.
# Row texts come from tests/data/fixture_pairs.jsonl, extracted once from
# the `texts` metadata of expected.safetensors (the ids checks below fail if
# they ever drift).
set -u
CLI=$1
SRC=$2
SHARED=$3
BUILD=$4
V11=$SHARED/fixtures/t5/tiny-v11
V1=$SHARED/fixtures/t5/tiny-v1
PAIRS=$SRC/tests/data/fixture_pairs.jsonl
SPM=$SHARED/fixtures/tokenizer/spiece.model
TMP=$(mktemp -d "${BUILD:-/tmp}/test_cli.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

fails=0
checks=0
ok() { checks=$((checks + 1)); }
bad() {
  checks=$((checks + 1)); fails=$((fails + 1))
  echo "FAIL: $*" >&2
}

# run CMD...: sets rc, out, err (files $TMP/out, $TMP/err)
run() {
  "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  out=$(cat "$TMP/out")
  err=$(cat "$TMP/err")
}

# expect_ok DESC CMD...
expect_ok() {
  local desc=$1; shift
  run "$@"
  if [ "$rc" = 0 ]; then ok; else bad "$desc: exit $rc, stderr: $err"; fi
}

# expect_error CODE DESC CMD... — exit code CODE, no stdout, one error line
# (plus the "try 'edgeseq ... --help'" hint for usage errors), no crash.
expect_error() {
  local code=$1 desc=$2; shift 2
  run "$@"
  local nlines
  nlines=$(wc -l <"$TMP/err")
  if [ "$rc" != "$code" ]; then
    bad "$desc: exit $rc, expected $code (stderr: $err)"; return
  fi
  if [ -n "$out" ]; then bad "$desc: wrote to stdout: $out"; return; fi
  if ! head -1 "$TMP/err" | grep -q '^edgeseq: error: '; then
    bad "$desc: first stderr line is not 'edgeseq: error: ...': $err"; return
  fi
  if [ "$code" = 2 ]; then
    if [ "$nlines" != 2 ] || ! sed -n 2p "$TMP/err" | grep -q "^try 'edgeseq .*--help'$"; then
      bad "$desc: usage error must be one error line + the help hint: $err"; return
    fi
  elif [ "$nlines" != 1 ]; then
    bad "$desc: $nlines stderr lines, expected 1: $err"; return
  fi
  ok
}

# near A B TOL: |A - B| <= TOL
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }

# json_ids JSON / json_num JSON NAME: first "ids" list / first number field
json_ids() { echo "$1" | grep -o '"ids": \[[0-9, ]*\]' | head -1 | sed 's/^"ids": \[//; s/\]$//' | tr -d ','; }
json_num() { echo "$1" | grep -o "\"$2\": -\{0,1\}[0-9.eE+-]*" | head -1 | sed 's/^.*: //'; }

[ -x "$CLI" ] || { echo "FAIL: CLI not found: $CLI" >&2; exit 1; }
[ -f "$PAIRS" ] || { echo "FAIL: $PAIRS missing" >&2; exit 1; }
ROW0=$(sed -n 1p "$PAIRS" | sed 's/^{"input": "\(.*\)", "target": ".*"}$/\1/')
case "$ROW0" in
  summarize:*) ok ;;
  *) bad "could not extract row 0 text from $PAIRS" ;;
esac
case "$ROW0" in *\\*) bad "row 0 text holds JSON escapes; extraction would be wrong" ;; esac

# ---- help and version -----------------------------------------------------------
expect_ok "--help" "$CLI" --help
echo "$out" | grep -q "generate" && echo "$out" | grep -q "init" && ok || bad "--help lists verbs"
expect_ok "--version" "$CLI" --version
echo "$out" | grep -Eq '^edgeseq [0-9]+\.[0-9]+\.[0-9]+' && ok || bad "--version: $out"
for verb in info tokenize detokenize generate score init; do
  expect_ok "$verb --help" "$CLI" "$verb" --help
  echo "$out" | grep -q "^usage: edgeseq $verb" && echo "$out" | grep -q "^examples:" &&
    ok || bad "$verb --help has no usage/examples"
done
expect_ok "help generate" "$CLI" help generate
echo "$out" | grep -q -- "--beam" && ok || bad "help generate lists --beam"

# ---- generate: fixture greedy and beam ids --------------------------------------------
GREEDY="7997 8282 20846 32051 11822 23543 1264 26782 25556 25313 18593 17149 27415 10960 15548 21642"
BEAM="24784 3719 14091 14806 22196 18551 2086 30209 9009 5754 24402 3580 20393 342 31559 9783"
expect_ok "generate greedy" "$CLI" generate -m "$V11" --ignore-eos --max-new-tokens 16 --json "$ROW0"
got=$(json_ids "$out")
[ "$got" = "$GREEDY" ] && ok || bad "greedy ids: got '$got', expected '$GREEDY'"
echo "$out" | grep -q '"input": "summarize: Call me Ishmael' && ok || bad "generate --json input field"
echo "$out" | grep -q '"text": "' && ok || bad "generate --json text field"
case "$out" in *'"ids": [0,'*|*'"ids": [0]'*) bad "ids include the decoder start token" ;; esac

expect_ok "generate beam" "$CLI" generate -m "$V11" --ignore-eos --max-new-tokens 16 --beam 4 --json "$ROW0"
got=$(json_ids "$out")
[ "$got" = "$BEAM" ] && ok || bad "beam ids: got '$got', expected '$BEAM'"
score=$(json_num "$out" score)
near "$score" -0.45686 1e-4 && ok || bad "beam score $score, expected -0.45686"
nb=$(echo "$out" | grep -o '"score": ' | wc -l)
[ "$nb" = 5 ] && ok || bad "beam --json: expected top-level score + 4 beams, found $nb scores"

# text mode, several inputs, stdin streaming
expect_ok "generate text" "$CLI" generate -m "$V11" -n 3 "a" "b"
[ "$(echo "$out" | wc -l)" = 2 ] && ok || bad "2 inputs -> 2 lines: $out"
run "$CLI" generate -m "$V11" -n 3 --json <"$SRC/tests/data/fixture_pairs.jsonl"
[ "$rc" = 0 ] && [ "$(echo "$out" | wc -l)" = 3 ] && ok || bad "stdin lines -> 3 outputs (rc $rc)"
expect_ok "generate --num-return" "$CLI" generate -m "$V11" -n 4 --beam 3 --num-return 2 "x"
[ "$(echo "$out" | wc -l)" = 2 ] && ok || bad "--num-return 2 -> 2 lines: $out"
expect_ok "generate sample" "$CLI" generate -m "$V11" -n 8 --sample --top-k 50 --seed 3 --json "x"
s1=$out
run "$CLI" generate -m "$V11" -n 8 --sample --top-k 50 --seed 3 --json "x"
[ "$s1" = "$out" ] && ok || bad "sampling with a seed is not reproducible"

# ---- score: target_logprob of both checkpoints ---------------------------------------------
check_scores() { # MODEL r0 r1 r2
  local model=$1; shift
  run "$CLI" score -m "$model" --json <"$PAIRS"
  [ "$rc" = 0 ] || { bad "score $model: exit $rc: $err"; return; }
  local i=0 exp got
  for exp in "$@"; do
    i=$((i + 1))
    got=$(echo "$out" | sed -n "${i}p" | sed -n 's/^.*"logprob": \(-\{0,1\}[0-9.eE+-]*\).*$/\1/p')
    near "$got" "$exp" 2e-3 && ok || bad "score $model row $((i - 1)): $got, expected $exp"
  done
  local nt
  nt=$(echo "$out" | sed -n 's/^.*"n_tokens": \([0-9]*\).*$/\1/p' | tr '\n' ' ')
  [ "$nt" = "35 23 2 " ] && ok || bad "n_tokens: '$nt', expected 35 23 2"
}
check_scores "$V11" -1033.711 -684.240 -67.011
check_scores "$V1" -377.482 -242.765 -20.912
expect_ok "score INPUT" "$CLI" score -m "$V1" --target "acceptable" "cola sentence: The cat sat."
near "$out" -20.912 2e-3 && ok || bad "score text output: $out"

# ---- tokenize / detokenize ------------------------------------------------------------------
expect_ok "tokenize" "$CLI" tokenize -m "$V1" "hello world"
[ "$out" = "6029 1240 101" ] && ok || bad "tokenize: '$out'"
# expected values from the official sentencepiece library
expect_ok "tokenize json" "$CLI" tokenize -m "$SPM" --json "héllo café ééé"
[ "$out" = '{"text": "héllo café ééé", "ids": [5266, 2, 542, 1240, 10455, 9187, 2, 58, 2], "pieces": ["▁h", "é", "ll", "o", "▁ca", "f", "é", "▁", "ééé"]}' ] &&
  ok || bad "tokenize --json: $out"
printf 'a\nb c\n\n' >"$TMP/three"
run "$CLI" tokenize -m "$V1" <"$TMP/three"
[ "$rc" = 0 ] && [ "$(wc -l <"$TMP/out")" = 3 ] && ok || bad "tokenize stdin: 3 lines expected: '$out'"
expect_ok "detokenize" "$CLI" detokenize -m "$V1" 6029 1240 101
[ "$out" = "hello world" ] && ok || bad "detokenize: '$out'"
expect_ok "detokenize extra id" "$CLI" detokenize -m "$V1" 32099 1
[ "$out" = "<extra_id_0>" ] && ok || bad "detokenize extra id: '$out'"

# ---- init + info + generate on the new folder -----------------------------------------------
X=$TMP/small
expect_ok "init small" "$CLI" init t5-efficient-small "$X" --spm "$SPM" --seed 1
for f in config.json model.safetensors spiece.model generation_config.json; do
  [ -f "$X/$f" ] && ok || bad "init: $f missing"
done
grep -q '"model_type": "t5"' "$X/config.json" && grep -q '"T5ForConditionalGeneration"' "$X/config.json" &&
  ok || bad "config.json not in HF format"
expect_ok "info small" "$CLI" info "$X"
echo "$out" | grep -q "60,506,624" && ok || bad "info: no 60,506,624 in: $out"
expect_ok "info --json" "$CLI" info --json "$X"
echo "$out" | grep -q '"n_params": 60506624' && ok || bad "info --json n_params: $out"
expect_ok "generate on init'd model" "$CLI" generate -m "$X" -n 4 --json "translate English to German: hi"
[ -n "$(json_ids "$out")" ] && ok || bad "no ids from the init'd model: $out"
ls -a "$TMP" | grep -q '\.tmp-' && bad "init left a temporary folder" || ok
# same seed -> same bytes
expect_ok "init tiny a" "$CLI" init t5-efficient-tiny-nl1 "$TMP/ta" --seed 9 --dtype bf16
expect_ok "init tiny b" "$CLI" init t5-efficient-tiny-nl1 "$TMP/tb" --seed 9 --dtype bf16 --threads 1
cmp -s "$TMP/ta/model.safetensors" "$TMP/tb/model.safetensors" && ok || bad "init not reproducible"
expect_ok "info bf16" "$CLI" info "$TMP/ta"
echo "$out" | grep -q "BF16" && ok || bad "info bf16 dtype: $out"

# ---- bad input everywhere ---------------------------------------------------------------------
expect_error 2 "no verb" "$CLI"
expect_error 2 "unknown verb" "$CLI" frobnicate
expect_error 2 "unknown flag" "$CLI" generate -m "$V11" --frob "x"
expect_error 2 "missing value" "$CLI" generate -m "$V11" "x" --beam
expect_error 2 "bad number" "$CLI" generate -m "$V11" --beam abc "x"
expect_error 2 "zero beams" "$CLI" generate -m "$V11" --beam 0 "x"
expect_error 2 "bad float" "$CLI" generate -m "$V11" --sample --temperature 1.5x "x"
expect_error 2 "beam + sample" "$CLI" generate -m "$V11" --beam 2 --sample "x"
expect_error 2 "missing -m" "$CLI" generate "x"
expect_error 2 "flag with value" "$CLI" generate -m "$V11" --json=yes "x"
expect_error 2 "score without target" "$CLI" score -m "$V11" "x"
expect_error 2 "info without model" "$CLI" info
expect_error 2 "bad id" "$CLI" detokenize -m "$V1" 12 abc
expect_error 2 "negative id" "$CLI" detokenize -m "$V1" -- -5
expect_error 2 "init bad name" "$CLI" init t5-efficient-huge "$TMP/h"
expect_error 2 "init bad dtype" "$CLI" init t5-efficient-tiny "$TMP/h" --dtype f8
expect_error 2 "init bad seed" "$CLI" init t5-efficient-tiny "$TMP/h" --seed -1
expect_error 1 "missing model folder" "$CLI" info "$TMP/does-not-exist"
expect_error 1 "missing model (generate)" "$CLI" generate -m "$TMP/does-not-exist" "x"
mkdir -p "$TMP/empty"
expect_error 1 "wrong folder" "$CLI" info "$TMP/empty"
expect_error 1 "file as model" "$CLI" info "$PAIRS"
expect_error 1 "tokenizer missing" "$CLI" tokenize -m "$TMP/empty" "x"
expect_error 1 "not a spm file" "$CLI" tokenize -m "$PAIRS" "x"
expect_error 1 "empty stdin (generate)" "$CLI" generate -m "$V11" </dev/null
expect_error 1 "empty stdin (tokenize)" "$CLI" tokenize -m "$V1" </dev/null
expect_error 1 "empty stdin (score)" "$CLI" score -m "$V1" </dev/null
printf '{"input": "a", "target": "b"}\n{"input": "a", "target": \n' >"$TMP/badjson"
run "$CLI" score -m "$V1" <"$TMP/badjson"
[ "$rc" = 1 ] && [ "$(wc -l <"$TMP/err")" = 1 ] && grep -q "line 2" "$TMP/err" &&
  [ "$(echo "$out" | wc -l)" = 1 ] && ok || bad "invalid JSON line 2: rc $rc, out '$out', err '$err'"
printf '["a", "b"]\n' >"$TMP/notobj"
expect_error 1 "JSON line not an object" "$CLI" score -m "$V1" <"$TMP/notobj"
printf '{"input": "a"}\n' >"$TMP/notarget"
expect_error 1 "JSON line without target" "$CLI" score -m "$V1" <"$TMP/notarget"
printf '{"input": 5, "target": "b"}\n' >"$TMP/numinput"
expect_error 1 "JSON input not a string" "$CLI" score -m "$V1" <"$TMP/numinput"
expect_error 1 "init into non-empty folder" "$CLI" init t5-efficient-tiny "$X"
expect_error 1 "init bad spm" "$CLI" init t5-efficient-tiny "$TMP/h2" --spm "$PAIRS"
[ -e "$TMP/h2" ] && bad "failed init left $TMP/h2" || ok
expect_error 1 "init into a file" "$CLI" init t5-efficient-tiny "$PAIRS/x"
# a corrupt weights file: one error line, exit 1
mkdir -p "$TMP/corrupt"
cp "$V1/config.json" "$TMP/corrupt/"
head -c 1000 "$V1/model.safetensors" >"$TMP/corrupt/model.safetensors"
expect_error 1 "truncated weights" "$CLI" info "$TMP/corrupt"
expect_error 1 "truncated weights (generate)" "$CLI" generate -m "$TMP/corrupt" "x"

echo "$checks checks, $fails failed"
[ "$fails" = 0 ]
