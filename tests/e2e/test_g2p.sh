#!/usr/bin/env bash
# test_g2p.sh CLI SRC_DIR SHARED_DIR BUILD_DIR — the shipped G2P model
# (models/g2p-cmudict) end to end on committed data only (the CMUdict excerpt
# tests/data/cmudict, nothing downloaded):
#   - generate: phonemes space-separated, every one in symbols.txt; common
#     words right; beam 4 float and uint8; --json shape;
#   - eval --task g2p on the excerpt's test and dev words: word counts, golden
#     WER/PER (pinned when the model was shipped; they change only if the
#     model or the decoder changes), stress-removed <= with stress, and the
#     words eval marks wrong are exactly those whose `generate` output is not
#     one of their variants;
#   - hostile inputs (long word, invalid UTF-8, punctuation) give output, not a
#     crash; usage errors exit 2, run-time errors exit 1 with one line.
# MODEL=... overrides the model folder (for trying a candidate before shipping).
set -uo pipefail
CLI="$1"; SRC="$2"; BUILD="${4:-.}"
MODEL="${MODEL:-$SRC/models/g2p-cmudict}"
tmp="$(mktemp -d "$BUILD/test_g2p.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { if eval "$1"; then ok; else bad "$2"; fi; }
jget() { sed -n "s/.*\"$2\": *\([-0-9.eE+]*\).*/\1/p" <<<"$1"; }

[ -f "$MODEL/config.json" ] && [ -f "$MODEL/model.safetensors" ] || { echo "FAIL: no model at $MODEL" >&2; echo "0 passed, 1 failed"; exit 1; }
syms="$SRC/tests/data/cmudict/symbols.txt"
mkdir -p "$tmp/data/cmudict"
cp "$SRC/tests/data/cmudict/sample.txt" "$tmp/data/cmudict/dict.txt"
cp "$syms" "$tmp/data/cmudict/symbols.txt"

# --- 1. generate ------------------------------------------------------------------
words=(hello world water tomato cat dog computer phone)
out="$("$CLI" generate -m "$MODEL" --beam 4 "${words[@]}")"; rc=$?
check '[ $rc = 0 ]' "generate exit $rc"
check '[ "$(wc -l <<<"$out")" = ${#words[@]} ]' "one line per word: $out"
unknown=$(tr ' ' '\n' <<<"$out" | grep -v '^$' | grep -vxFf "$syms" | wc -l)
check '[ "$unknown" = 0 ]' "$unknown output symbols not in symbols.txt: $out"
want=("HH AH0 L OW1" "W ER1 L D" "W AO1 T ER0" "K AE1 T" "D AO1 G" "K AH0 M P Y UW1 T ER0" "F OW1 N")
right=0
for w in "${want[@]}"; do grep -qxF "$w" <<<"$out" && right=$((right + 1)); done
echo "generate: $right/${#want[@]} common words exactly right"
check '[ $right -ge 5 ]' "only $right/${#want[@]} common words right: $out"
outq="$("$CLI" generate -m "$MODEL" --beam 4 --quantized-beam "${words[@]}")"; rc=$?
check '[ $rc = 0 ] && [ "$(wc -l <<<"$outq")" = ${#words[@]} ]' "uint8 beam: $outq"
js="$("$CLI" generate -m "$MODEL" --beam 4 --json hello)"
check 'grep -q "\"text\": \"" <<<"$js"' "json: $js"

# --- 2. eval on the excerpt ---------------------------------------------------------
ev="$("$CLI" eval -m "$MODEL" --task g2p --data "$tmp/data" --split test --beam 4 --threads 1 --json \
      --errors "$tmp/err.tsv")"; rc=$?
check '[ $rc = 0 ]' "eval exit $rc: $ev"
check 'grep -q "\"n_words\": 14," <<<"$ev"' "test words: $ev"
wer=$(jget "$ev" wer); wer2=$(jget "$ev" wer_no_stress)
per=$(jget "$ev" per); per2=$(jget "$ev" per_no_stress)
echo "eval on the excerpt's 14 test words: WER $wer PER $per, stress removed $wer2 / $per2"
check 'awk -v a="$wer2" -v b="$wer" -v c="$per2" -v d="$per" "BEGIN{exit !(a <= b && c <= d)}"' \
  "stress removed must not be worse"
# golden for models/g2p-cmudict as shipped (session 5: int8 QAT export of the 40,000-step
# recipe, beam 4, float beam): 5/14 words wrong both ways, 9 phone edits / 85 (8 / 85 stress
# removed); the scalar reference kernels give the same. (The session-2 model got 5/14, 11 / 9
# edits: 14 words are far too few to rank models; this pins the shipped bytes.)
# Set with the AVX2 kernels, so they are pinned to them (EDGESEQ_ISA=avx2): the AVX-512 ones sum
# in other lane orders, and a last-bit difference may flip a beam choice (not a regression).
if [ "$MODEL" = "$SRC/models/g2p-cmudict" ]; then
  if grep -qw avx2 /proc/cpuinfo 2>/dev/null && grep -qw fma /proc/cpuinfo; then
    evg="$(EDGESEQ_ISA=avx2 "$CLI" eval -m "$MODEL" --task g2p --data "$tmp/data" --split test --beam 4 \
           --threads 1 --json)"
    check 'grep -q "\"words_wrong\": 5, \"words_wrong_no_stress\": 5, \"phone_edits\": 9, \"phone_edits_no_stress\": 8, \"ref_phones\": 85," <<<"$evg"' \
      "golden numbers of the shipped model changed: $evg"
  else
    echo "no AVX2 + FMA here: golden numbers of the shipped model not checked"
  fi
fi
# eval's verdicts = generate's outputs compared with the variants (with stress)
mapfile -t tw < <(cut -f1 "$tmp/err.tsv")
nwrong=$(grep -c . "$tmp/err.tsv")
check '[ "$(jget "$ev" words_wrong)" = "$nwrong" ]' "errors file has $nwrong lines: $ev"
while IFS=$'\t' read -r w pred refs; do
  g="$("$CLI" generate -m "$MODEL" --beam 4 "$w")"
  check '[ "$g" = "$pred" ]' "eval prediction for $w '$pred' != generate '$g'"
  check '! grep -qxF "$g" < <(sed "s/ | /\n/g" <<<"$refs")' "$w marked wrong but '$g' is a variant"
done < "$tmp/err.tsv"
evd="$("$CLI" eval -m "$MODEL" --task g2p --data "$tmp/data" --split dev --json)"; rc=$?
check '[ $rc = 0 ] && grep -q "\"n_words\": 12," <<<"$evd"' "dev greedy: $evd"
evl="$("$CLI" eval -m "$MODEL" --task g2p --data "$tmp/data" --split train --limit 20 --json)"
check 'grep -q "\"n_words\": 20," <<<"$evl"' "--limit: $evl"
txt="$("$CLI" eval -m "$MODEL" --task g2p --data "$tmp/data" --split test --beam 4)"
check 'grep -q "^WER: " <<<"$txt" && grep -q "^PER: " <<<"$txt"' "text output: $txt"
# --length-penalty reaches the beam (named in "decoding"); out of range is a usage error
eva="$("$CLI" eval -m "$MODEL" --task g2p --data "$tmp/data" --split test --beam 4 --length-penalty 0 --json)"
check 'grep -q "\"decoding\": \"beam 4 (float, alpha 0)\"" <<<"$eva" && [ "$(jget "$eva" n_words)" = 14 ]' \
  "--length-penalty 0: $eva"
"$CLI" eval -m "$MODEL" --task g2p --data "$tmp/data" --beam 4 --length-penalty 99 >/dev/null 2>&1; rc=$?
check '[ $rc = 2 ]' "--length-penalty 99 exit $rc"

# --- 3. hostile inputs and errors ------------------------------------------------------
long="$(head -c 10000 /dev/zero | tr '\0' 'a')"
# (the empty word first: the CLI sizes its session from the first input; 0 bytes once failed)
for w in "" "$long" $'\xff\xfe' "o'neil" "x" "3d" "ÉCOLE" "😀👍"; do
  for q in "" --quantized-beam; do
    "$CLI" generate -m "$MODEL" --beam 4 $q "$w" >"$tmp/o" 2>"$tmp/e"; rc=$?
    check '[ $rc = 0 ] && [ "$(wc -l <"$tmp/o")" = 1 ]' "generate $q '${w:0:20}' exit $rc: $(cat "$tmp/e")"
  done
done
"$CLI" eval -m "$MODEL" --task g2p --data "$tmp/data" --case upper >/dev/null 2>&1; rc=$?
check '[ $rc = 2 ]' "bad --case exit $rc"
"$CLI" eval -m "$MODEL" --task g2q --data "$tmp/data" >/dev/null 2>&1; rc=$?
check '[ $rc = 2 ]' "bad --task exit $rc"
"$CLI" eval -m "$MODEL" --task g2p --data "$tmp/nowhere" 2>"$tmp/e" >/dev/null; rc=$?
check '[ $rc = 1 ] && [ "$(wc -l <"$tmp/e")" = 1 ]' "missing data exit $rc: $(cat "$tmp/e")"
if [ -d "$SRC/models/spam-byteqrnn" ]; then
  "$CLI" eval -m "$SRC/models/spam-byteqrnn" --task g2p --data "$tmp/data" 2>"$tmp/e" >/dev/null; rc=$?
  check '[ $rc = 1 ] && grep -q "not a byte seq2seq" "$tmp/e"' "classifier as G2P exit $rc: $(cat "$tmp/e")"
fi
printf 'CAB  K AH1 Q\n' > "$tmp/data/cmudict/dict.txt"
"$CLI" eval -m "$MODEL" --task g2p --data "$tmp/data" 2>"$tmp/e" >/dev/null; rc=$?
check '[ $rc = 1 ] && grep -q "dict.txt:1: phone" "$tmp/e"' "bad dictionary exit $rc: $(cat "$tmp/e")"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
