#!/usr/bin/env bash
# test_quantize.sh — `edgeseq quantize` / `eval-quant` from the CLI.
#
# usage: bash test_quantize.sh CLI SRC_DIR SHARED_DIR BUILD_DIR
#
# Round trips: the fixture checkpoints (tiny-v1, tiny-v11) and an
# `edgeseq init` model (t5-efficient-tiny-nl2, spiece.model) are quantized
# to int8 (per channel and --group 16 / 8), bf16 and f16 (tiny-v11: int8
# only); each folder must `generate` and `score` (int8 and bf16 also
# `info` and `generate --beam 4`), and eval-quant must
# report greedy agreement and a size ratio in the expected range (int8
# <= 0.30 of an fp32 file, bf16/f16 ~0.5). Errors: bad dtype / group usage
# (exit 2), a non-model folder, re-quantizing a quantized folder, and a
# truncated quantized model.safetensors (exit 1, one error line).
set -u
CLI=$1
SHARED=$3
BUILD=$4
V1=$SHARED/fixtures/t5/tiny-v1
V11=$SHARED/fixtures/t5/tiny-v11
SPM=$SHARED/fixtures/tokenizer/spiece.model
TMP=$(mktemp -d "${BUILD:-/tmp}/test_quantize.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fails=0
checks=0
ok() { checks=$((checks + 1)); }
bad() {
  checks=$((checks + 1)); fails=$((fails + 1))
  echo "FAIL: $*" >&2
}
run() {
  "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  out=$(cat "$TMP/out")
  err=$(cat "$TMP/err")
}
expect_ok() {
  local desc=$1; shift
  run "$@"
  if [ "$rc" = 0 ]; then ok; else bad "$desc: exit $rc, stderr: $err"; fi
}
expect_error() {
  local code=$1 desc=$2; shift 2
  run "$@"
  if [ "$rc" != "$code" ]; then bad "$desc: exit $rc, expected $code (stderr: $err)"; return; fi
  if ! head -1 "$TMP/err" | grep -q '^edgeseq: error: '; then
    bad "$desc: stderr is not 'edgeseq: error: ...': $err"; return
  fi
  ok
  echo "  $desc -> $(head -1 "$TMP/err")"
}
# ratio_le A B MAX: size(A)/size(B) <= MAX
ratio_le() {
  local a b
  a=$(stat -c %s "$1/model.safetensors"); b=$(stat -c %s "$2/model.safetensors")
  if awk -v a="$a" -v b="$b" -v m="$3" 'BEGIN { exit !(a / b <= m) }'; then ok
  else bad "size ratio $1: $a / $b > $3"; fi
}

expect_ok "init" "$CLI" init t5-efficient-tiny-nl2 "$TMP/init" --spm "$SPM" --seed 3
for src in "$V1" "$V11" "$TMP/init"; do
  name=$(basename "$src")
  variants=("int8" "int8 --group 16" "bf16" "f16")
  # tiny-v11 is stored bf16 already: its bf16/f16 forms are checked by the unit test
  [ "$name" = tiny-v11 ] && variants=("int8" "int8 --group 8")
  for v in "${variants[@]}"; do
    set -- $v
    dt=$1
    out_dir="$TMP/$name-$dt${2:+-g}${3:-}"
    expect_ok "quantize $name $v" "$CLI" quantize "$src" "$out_dir" --dtype "$@"
    expect_ok "generate $out_dir" "$CLI" generate -m "$out_dir" -n 8 "translate English to German: Hello"
    if [ "$v" = int8 ] || [ "$v" = bf16 ]; then
      expect_ok "info $out_dir" "$CLI" info "$out_dir"
      expect_ok "generate --beam $out_dir" "$CLI" generate -m "$out_dir" -n 8 --beam 4 "summarize: a b c"
    fi
    expect_ok "score $out_dir" "$CLI" score -m "$out_dir" --target "Hallo" "translate English to German: Hello"
    if ! echo "$out" | grep -q -- '-[0-9]'; then bad "score $out_dir printed no log-prob: $out"; else ok; fi
    expect_ok "eval-quant $out_dir" "$CLI" eval-quant "$src" "$out_dir" --n 1 --tokens 12 --beam 2 --json
    if echo "$out" | grep -q '"greedy_position_agreement"'; then ok; else bad "eval-quant json: $out"; fi
    echo "  $name $v: $(echo "$out" | sed 's/.*"size_ratio"/size_ratio/' | cut -c1-160)"
  done
done
# sizes: int8 per channel <= 0.30 of fp32 (tiny-v1 and init are F32 files)
ratio_le "$TMP/tiny-v1-int8" "$V1" 0.30
ratio_le "$TMP/init-int8" "$TMP/init" 0.30
ratio_le "$TMP/init-bf16" "$TMP/init" 0.51
ratio_le "$TMP/init-f16" "$TMP/init" 0.51

# eval-quant --inputs: real texts (tokenized with the reference's spiece.model)
printf 'translate English to German: Hello\n\n   \nsummarize: the house is small and old\n' >"$TMP/inputs.txt"
expect_ok "eval-quant --inputs" "$CLI" eval-quant "$TMP/init" "$TMP/init-int8" --inputs "$TMP/inputs.txt" --n 5 --tokens 8 --beam 2 --json
if echo "$out" | grep -q '"inputs": ".*inputs.txt", "n": 2,'; then ok; else bad "eval-quant --inputs json (2 non-empty lines): $out"; fi
expect_error 1 "eval-quant --inputs missing file" "$CLI" eval-quant "$TMP/init" "$TMP/init-int8" --inputs "$TMP/nope.txt"
printf '\n  \n' >"$TMP/blank.txt"
expect_error 1 "eval-quant --inputs blank file" "$CLI" eval-quant "$TMP/init" "$TMP/init-int8" --inputs "$TMP/blank.txt"

expect_error 2 "missing --dtype" "$CLI" quantize "$V1" "$TMP/x"
expect_error 2 "bad dtype" "$CLI" quantize "$V1" "$TMP/x" --dtype int4
expect_error 2 "group with bf16" "$CLI" quantize "$V1" "$TMP/x" --dtype bf16 --group 16
expect_error 1 "group not dividing d_model" "$CLI" quantize "$V1" "$TMP/x" --dtype int8 --group 7
expect_error 1 "not a model folder" "$CLI" quantize "$TMP" "$TMP/x" --dtype int8
expect_error 1 "re-quantize" "$CLI" quantize "$TMP/tiny-v1-int8" "$TMP/x" --dtype int8
echo '{"input": "a b", "target": "c"}' >"$TMP/train.jsonl"
expect_error 1 "finetune a quantized folder" "$CLI" finetune -m "$TMP/init-int8" --train "$TMP/train.jsonl" --out "$TMP/ft"
# truncated quantized file
mkdir -p "$TMP/trunc"
cp "$TMP/tiny-v1-int8/config.json" "$TMP/trunc/"
head -c 100000 "$TMP/tiny-v1-int8/model.safetensors" >"$TMP/trunc/model.safetensors"
expect_error 1 "truncated int8 file" "$CLI" generate -m "$TMP/trunc" "hello"

echo "$checks checks, $fails failed"
[ "$fails" = 0 ]
