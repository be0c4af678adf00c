#!/usr/bin/env bash
# test_t5_tasks.sh CLI SRC_DIR SHARED_DIR BUILD_DIR — the T5 forms of the spam and G2P tasks
# (src/train/t5_tasks.h) end to end on committed data only (tests/data/spam: 14 test-split
# messages; tests/data/cmudict: a CMUdict excerpt) and a tiny `edgeseq init` model:
#   - `data t5-jsonl --task spam`: one {"input", "target"} line per message, input
#     "spam: ... | ...", targets = folder labels (8 ham, 6 spam), no control characters,
#     --spm/--max-src-len cut: every input <= N-1 tokens (counted by `edgeseq tokenize`);
#     --fraction: stratified counts (round(0.5*8) ham, round(0.5*6) spam), a subset of the full
#     export, the same for the same seed;
#   - `data t5-jsonl --task g2p`: "phonemes: <lower-case word>" -> symbols of symbols.txt,
#     one line per variant; the distinct words are as many as `eval --task g2p` scores;
#   - `finetune` accepts the export (6 steps on the 14 lines);
#   - `eval --task spam` on that T5 model prints the fields; its ROC-AUC equals the AUC computed
#     here from `edgeseq score` log p(spam) - log p(ham) of the exported inputs (independent
#     path: CLI scoring + awk Mann-Whitney), and accuracy agrees with the confusion matrix;
#   - `eval --task g2p` prints WER/PER with and without stress (stress-removed <= with stress);
#     `eval --fraction F --seed S` scores as many words as `data t5-jsonl --fraction F --seed S`;
#   - usage errors exit 2.
set -uo pipefail
CLI="$1"; SRC="$2"; SHARED="$3"; BUILD="${4:-.}"
tmp="$(mktemp -d "$BUILD/test_t5_tasks.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { if eval "$1"; then ok; else bad "$2"; fi; }
jget() { sed -n "s/.*\"$2\": *\([-0-9.eE+]*\).*/\1/p" <<<"$1"; }

SPM="$SHARED/fixtures/tokenizer/spiece.model"
SPAM="$SRC/tests/data/spam"
mkdir -p "$tmp/cmu/cmudict"
cp "$SRC/tests/data/cmudict/sample.txt" "$tmp/cmu/cmudict/dict.txt"
cp "$SRC/tests/data/cmudict/symbols.txt" "$tmp/cmu/cmudict/symbols.txt"
M="$tmp/model"
"$CLI" init t5-efficient-tiny-nl1-dm64-ff128-kv16-nh2 "$M" --spm "$SPM" --seed 3 --threads 1 >/dev/null
check '[ -f "$M/model.safetensors" ]' "init tiny model"

# --- 1. spam export ---------------------------------------------------------------------
"$CLI" data t5-jsonl --task spam --split test --spm "$SPM" --max-src-len 32 "$SPAM" > "$tmp/spam.jsonl"; rc=$?
check '[ $rc = 0 ]' "spam export exit $rc"
check '[ "$(wc -l < "$tmp/spam.jsonl")" = 14 ]' "14 spam lines"
check '[ "$(grep -c "^{\"input\": \"spam: .*\", \"target\": \"\(spam\|ham\)\"}$" "$tmp/spam.jsonl")" = 14 ]' \
  "spam line format: $(head -1 "$tmp/spam.jsonl")"
check '[ "$(grep -c "\"target\": \"spam\"}$" "$tmp/spam.jsonl")" = 6 ]' "6 spam targets"
check '! grep -qP "[\x00-\x1f]|\\\\u00[01]" "$tmp/spam.jsonl"' "control characters in inputs"
# token cut: inputs (JSON-unescaped by python-free sed: the sample has no escapes beyond \")
sed 's/^{"input": "\(.*\)", "target": "[a-z]*"}$/\1/; s/\\"/"/g; s/\\\\/\\/g' "$tmp/spam.jsonl" > "$tmp/spam-inputs.txt"
maxtok=$("$CLI" tokenize -m "$SPM" < "$tmp/spam-inputs.txt" | awk '{ if (NF > m) m = NF } END { print m + 0 }')
echo "spam export: longest input $maxtok tokens (+ </s> <= 32)"
check '[ "$maxtok" -le 31 ] && [ "$maxtok" -ge 20 ]' "longest input $maxtok tokens, want 20..31"
"$CLI" data t5-jsonl --task spam --split test "$SPAM" > "$tmp/spam-full.jsonl"
check '[ "$(wc -c < "$tmp/spam-full.jsonl")" -gt "$(wc -c < "$tmp/spam.jsonl")" ]' "no --spm: no token cut"
# fraction: stratified, subset, deterministic
"$CLI" data t5-jsonl --task spam --split test --fraction 0.5 --seed 7 "$SPAM" > "$tmp/f1.jsonl"
"$CLI" data t5-jsonl --task spam --split test --fraction 0.5 --seed 7 "$SPAM" > "$tmp/f2.jsonl"
"$CLI" data t5-jsonl --task spam --split test --fraction 0.5 --seed 8 "$SPAM" > "$tmp/f3.jsonl"
check 'cmp -s "$tmp/f1.jsonl" "$tmp/f2.jsonl"' "same seed, different subset"
check '[ "$(grep -c "\"ham\"}$" "$tmp/f1.jsonl")" = 4 ] && [ "$(grep -c "\"spam\"}$" "$tmp/f1.jsonl")" = 3 ]' \
  "fraction 0.5 not stratified 4 ham + 3 spam"
check '[ -z "$(grep -vxFf "$tmp/spam-full.jsonl" "$tmp/f1.jsonl")" ]' "fraction lines not a subset"
check '! cmp -s "$tmp/f1.jsonl" "$tmp/f3.jsonl"' "seed 7 and 8 chose the same subset"
"$CLI" data t5-jsonl --task spam --split test --fraction 0.01 "$SPAM" > "$tmp/f4.jsonl"
check '[ "$(wc -l < "$tmp/f4.jsonl")" = 2 ]' "tiny fraction keeps one per label"

# --- 2. g2p export -------------------------------------------------------------------------
"$CLI" data t5-jsonl --task g2p --split test "$tmp/cmu" > "$tmp/g2p.jsonl"; rc=$?
check '[ $rc = 0 ]' "g2p export exit $rc"
check '[ -s "$tmp/g2p.jsonl" ] && ! grep -vq "^{\"input\": \"phonemes: [^A-Z\"]*\", \"target\": \"[A-Z0-9 ]*\"}$" "$tmp/g2p.jsonl"' \
  "g2p line format: $(head -1 "$tmp/g2p.jsonl")"
unk=$(sed 's/.*"target": "\([^"]*\)"}/\1/' "$tmp/g2p.jsonl" | tr ' ' '\n' | grep -v '^$' |
      grep -vxFf "$tmp/cmu/cmudict/symbols.txt" | wc -l)
check '[ "$unk" = 0 ]' "$unk target symbols not in symbols.txt"
n_words=$(sed 's/^{"input": "\([^"]*\)".*/\1/' "$tmp/g2p.jsonl" | sort -u | wc -l)
n_lines=$(wc -l < "$tmp/g2p.jsonl")
echo "g2p export: $n_lines lines, $n_words words"
check '[ "$n_lines" -ge "$n_words" ]' "fewer lines than words"
"$CLI" data t5-jsonl --task g2p --split test --fraction 0.5 --seed 1 "$tmp/cmu" > "$tmp/g5.jsonl"
n5=$(sed 's/^{"input": "\([^"]*\)".*/\1/' "$tmp/g5.jsonl" | sort -u | wc -l)
check '[ "$n5" = "$(awk -v n="$n_words" "BEGIN { k = int(n * 0.5 + 0.5); print k < 1 ? 1 : k }")" ]' \
  "g2p fraction 0.5 of $n_words words gave $n5"

# --- 3. eval --task spam: fields, and AUC against CLI scoring --------------------------------
# a few fine-tuning steps on the export (finetune accepts the format; scores spread out)
"$CLI" finetune -m "$M" --train "$tmp/spam.jsonl" --out "$tmp/ft" --steps 6 --batch 14 --lr 0.01 \
  --max-src-len 32 --max-target-len 8 --eval-every 0 --save-every 0 --threads 1 >/dev/null 2>&1; rc=$?
check '[ $rc = 0 ]' "finetune on the spam export exit $rc"
M="$tmp/ft"
ev="$("$CLI" eval -m "$M" --task spam --data "$SPAM" --split test --max-src-len 32 --threads 1 --json)"; rc=$?
check '[ $rc = 0 ]' "spam eval exit $rc"
echo "spam eval: $ev"
for k in roc_auc accuracy precision recall f1 n_cut mean_src_tokens ms_per_message; do
  check 'grep -q "\"$k\": " <<<"$ev"' "spam eval: no $k"
done
check 'grep -q "\"n\": 14, \"n_pos\": 6, \"n_neg\": 8" <<<"$ev"' "spam eval counts"
auc=$(jget "$ev" roc_auc)
# the exported inputs (same cut) without targets, scored both ways
sed 's/, "target": "[a-z]*"}$/}/' "$tmp/spam.jsonl" > "$tmp/in.jsonl"
"$CLI" score -m "$M" --target spam --threads 1 < "$tmp/in.jsonl" > "$tmp/ls.txt"
"$CLI" score -m "$M" --target ham --threads 1 < "$tmp/in.jsonl" > "$tmp/lh.txt"
sed 's/.*"target": "\([a-z]*\)"}$/\1/' "$tmp/spam.jsonl" > "$tmp/lab.txt"
auc2=$(paste "$tmp/ls.txt" "$tmp/lh.txt" "$tmp/lab.txt" | awk '
  { s[NR] = $1 - $2; y[NR] = ($3 == "spam") }
  END { u = 0; np = 0; nn = 0
        for (i = 1; i <= NR; i++) { if (y[i]) np++; else nn++ }
        for (i = 1; i <= NR; i++) if (y[i]) for (j = 1; j <= NR; j++) if (!y[j]) {
          if (s[i] > s[j]) u += 1; else if (s[i] == s[j]) u += 0.5 }
        printf "%.9f", u / (np * nn) }')
echo "spam AUC: eval $auc, from edgeseq score + awk $auc2"
check 'awk -v a="$auc" -v b="$auc2" "BEGIN { d = a - b; exit !(d < 1e-6 && d > -1e-6) }"' \
  "eval AUC $auc != score-based AUC $auc2"
acc=$(jget "$ev" accuracy)
tn=$(sed -n 's/.*"tn": \([0-9]*\).*/\1/p' <<<"$ev"); tp=$(sed -n 's/.*"tp": \([0-9]*\).*/\1/p' <<<"$ev")
check 'awk -v a="$acc" -v t="$((tn + tp))" "BEGIN { d = a - t / 14; exit !(d < 1e-9 && d > -1e-9) }"' \
  "accuracy $acc vs confusion tn $tn tp $tp"
txt="$("$CLI" eval -m "$M" --task spam --data "$SPAM" --split test --max-src-len 32 --threads 1)"
check 'grep -q "^ROC-AUC: " <<<"$txt" && grep -q "(T5)" <<<"$txt"' "spam text output: $txt"

# --- 4. eval --task g2p -----------------------------------------------------------------------
ev="$("$CLI" eval -m "$M" --task g2p --data "$tmp/cmu" --split test --limit 3 --threads 1 --json)"; rc=$?
check '[ $rc = 0 ]' "g2p eval exit $rc"
echo "g2p eval (3 words): $ev"
for k in wer per wer_no_stress per_no_stress words_wrong ms_per_word; do
  check 'grep -q "\"$k\": " <<<"$ev"' "g2p eval: no $k"
done
check 'grep -q "\"n_words\": 3," <<<"$ev"' "g2p eval --limit 3"
check 'awk -v a="$(jget "$ev" wer_no_stress)" -v b="$(jget "$ev" wer)" "BEGIN { exit !(a <= b && b <= 1) }"' \
  "stress-removed WER above WER"
all="$("$CLI" eval -m "$M" --task g2p --data "$tmp/cmu" --split test --limit 100000 --threads 1 --json)"
check '[ "$(sed -n "s/.*\"n_words\": \([0-9]*\).*/\1/p" <<<"$all")" = "$n_words" ]' \
  "eval scores $(sed -n "s/.*\"n_words\": \([0-9]*\).*/\1/p" <<<"$all") words, export has $n_words"

half="$("$CLI" eval -m "$M" --task g2p --data "$tmp/cmu" --split test --fraction 0.5 --seed 1 --threads 1 --json)"
check '[ "$(sed -n "s/.*\"n_words\": \([0-9]*\).*/\1/p" <<<"$half")" = "$n5" ]' \
  "eval --fraction 0.5 scores $(sed -n "s/.*\"n_words\": \([0-9]*\).*/\1/p" <<<"$half") words, export --fraction 0.5 has $n5"

# --- 5. usage errors ----------------------------------------------------------------------------
"$CLI" data t5-jsonl --task nope --split test "$SPAM" >/dev/null 2>&1; rc=$?
check '[ $rc = 2 ]' "bad --task exit $rc"
"$CLI" data t5-jsonl --task spam "$SPAM" >/dev/null 2>&1; rc=$?
check '[ $rc = 2 ]' "missing --split exit $rc"
"$CLI" data t5-jsonl --task spam --split test --fraction 0 "$SPAM" >/dev/null 2>&1; rc=$?
check '[ $rc = 2 ]' "fraction 0 exit $rc"
"$CLI" eval -m "$M" --task nope --data "$SPAM" >/dev/null 2>&1; rc=$?
check '[ $rc = 2 ]' "eval bad --task exit $rc"
"$CLI" data t5-jsonl --task spam --split test "$tmp/none" >/dev/null 2>&1; rc=$?
check '[ $rc = 1 ]' "missing data dir exit $rc"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
