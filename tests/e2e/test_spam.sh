#!/usr/bin/env bash
# test_spam.sh CLI SRC_DIR SHARED_DIR BUILD_DIR — the shipped spam filter end
# to end, on committed real data only (nothing is downloaded):
#   - classify the 14 committed test-split messages (tests/data/spam) with
#     models/spam-byteqrnn: at least 13 right, probabilities sum to 1;
#   - eval on that tiny sample: counts, ROC-AUC >= 0.95, accuracy agrees with
#     the classify labels;
#   - the same document through a file, stdin and --text gives the same p;
#   - the documented cut: a message with 10 MB appended after its first
#     max_bytes classifies exactly like its first max_bytes;
#   - bad inputs (empty, binary, invalid UTF-8, NUL bytes, 10 MB, a folder, a
#     missing file) are classified or rejected with one error line, never a crash;
#   - usage errors exit 2; `data stats` shows the sample's split.
# MODEL=... overrides the model folder (for trying a candidate before shipping).
set -uo pipefail
CLI="$1"; SRC="$2"; BUILD="${4:-.}"
MODEL="${MODEL:-$SRC/models/spam-byteqrnn}"
DATA="$SRC/tests/data/spam"
tmp="$(mktemp -d "$BUILD/test_spam.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { if eval "$1"; then ok; else bad "$2"; fi; }

[ -f "$MODEL/config.json" ] && [ -f "$MODEL/model.safetensors" ] || { echo "FAIL: no model at $MODEL" >&2; echo "0 passed, 1 failed"; exit 1; }
max_bytes=$(sed -n 's/.*"max_bytes": *\([0-9]*\).*/\1/p' "$MODEL/config.json" | head -1)
check '[ -n "$max_bytes" ] && [ "$max_bytes" -gt 0 ]' "max_bytes in config.json"

# p(label) values of one --json line
pget() { sed -n "s/.*\"$2\": *\([-0-9.eE+]*\).*/\1/p" <<<"$1"; }

# --- 1. classify the committed sample messages ------------------------------
files=("$DATA"/spam-assassin/*/*.txt)
check '[ ${#files[@]} = 14 ]' "14 sample messages, found ${#files[@]}"
out="$("$CLI" classify -m "$MODEL" --json "${files[@]}")"; rc=$?
check '[ $rc = 0 ]' "classify samples exit $rc"
check '[ "$(wc -l <<<"$out")" = 14 ]' "one line per file"
right=0
while IFS= read -r line; do
  f=$(sed -n 's/.*"file": *"\([^"]*\)".*/\1/p' <<<"$line")
  lab=$(sed -n 's/.*"label": *"\([a-z]*\)".*/\1/p' <<<"$line")
  case "$f" in */spam-[12]/*) want=spam;; *) want=ham;; esac
  [ "$lab" = "$want" ] && right=$((right + 1))
  ph=$(pget "$line" ham); ps=$(pget "$line" spam)
  awk -v a="$ph" -v b="$ps" 'BEGIN{exit !(a>=0 && b>=0 && (a+b)>0.999999 && (a+b)<1.000001)}' ||
    bad "probabilities of $f do not sum to 1: $ph + $ps"
done <<<"$out"
echo "classify: $right/14 sample messages right"
check '[ $right -ge 13 ]' "only $right/14 right"

# --- 2. eval on the tiny sample ------------------------------------------------
ev="$("$CLI" eval -m "$MODEL" --data "$DATA" --split test --json)"; rc=$?
check '[ $rc = 0 ]' "eval exit $rc"
check 'grep -q "\"n\": 14, \"n_pos\": 6, \"n_neg\": 8" <<<"$ev"' "eval counts: $ev"
auc=$(pget "$ev" roc_auc); acc=$(pget "$ev" accuracy)
echo "eval on sample: AUC $auc accuracy $acc"
check 'awk -v a="$auc" "BEGIN{exit !(a >= 0.95)}"' "sample AUC $auc < 0.95"
check 'awk -v a="$acc" -v r="$right" "BEGIN{d = a - r/14; exit !(d < 1e-9 && d > -1e-9)}"' \
  "eval accuracy $acc != classify $right/14"
"$CLI" eval -m "$MODEL" --data "$DATA" --split dev --json >/dev/null 2>"$tmp/err"; rc=$?
check '[ $rc = 1 ] && grep -q "no examples in split dev" "$tmp/err"' "empty split must fail clearly (rc $rc)"

# --- 3. file, stdin and --text agree ------------------------------------------
f1="$DATA/spam-assassin/spam-2/00056.64a6ee24c0b7bf8bdba8340f0a3aafda.txt"
a="$("$CLI" classify -m "$MODEL" --json "$f1")"
b="$("$CLI" classify -m "$MODEL" --json - < "$f1")"
c="$("$CLI" classify -m "$MODEL" --json --text "$(cat "$f1"; printf x)")"
check '[ "$(pget "$a" spam)" = "$(pget "$b" spam)" ]' "file vs stdin: $a / $b"
# --text gets the file plus "x" (command substitution would eat the final newline)
check '[ -n "$(pget "$c" spam)" ]' "--text output: $c"
head -c "$max_bytes" "$f1" > "$tmp/cut.txt"
{ head -c "$max_bytes" "$f1"; head -c 10000000 /dev/urandom; } > "$tmp/long.txt"
big="$(cat "$DATA"/spam-assassin/spam-1/*.txt "$DATA"/spam-assassin/spam-2/*.txt | head -c "$max_bytes")"
printf '%s' "$big" > "$tmp/cut2.txt"
{ printf '%s' "$big"; head -c 10000000 /dev/zero; } > "$tmp/long2.txt"
x1="$("$CLI" classify -m "$MODEL" --json "$tmp/cut2.txt")"
x2="$("$CLI" classify -m "$MODEL" --json "$tmp/long2.txt")"
check '[ "$(pget "$x1" spam)" = "$(pget "$x2" spam)" ]' "cut to max_bytes: $x1 / $x2"

# --- 4. bad inputs --------------------------------------------------------------
: > "$tmp/empty.txt"
head -c 4096 /dev/urandom > "$tmp/binary.bin"
printf 'Subject: caf\xe9 \xff\xfe\xc3\x28 \xed\xa0\x80 invalid UTF-8\n\nbody' > "$tmp/latin1.txt"
printf 'NUL\0inside\0the\0message\n' > "$tmp/nul.txt"
head -c 10000000 /dev/urandom > "$tmp/10mb.bin"
mkdir "$tmp/folder"
out="$("$CLI" classify -m "$MODEL" --json "$tmp/empty.txt" "$tmp/binary.bin" "$tmp/latin1.txt" \
  "$tmp/nul.txt" "$tmp/10mb.bin" "$tmp/long.txt" "$tmp/missing.txt" "$tmp/folder" 2>"$tmp/err")"; rc=$?
check '[ $rc = 1 ]' "unreadable files must give exit 1, got $rc"
check '[ "$(wc -l <<<"$out")" = 6 ]' "6 readable inputs classified: $out"
check '[ "$(grep -c "^edgeseq: error: " "$tmp/err")" = 2 ]' "2 error lines: $(cat "$tmp/err")"
check 'grep -q "missing.txt" "$tmp/err" && grep -q "folder" "$tmp/err"' "errors name the files"
check '! grep -qi "sanitizer\|segmentation\|abort" "$tmp/err"' "no crash"
for w in empty.txt binary.bin latin1.txt nul.txt 10mb.bin long.txt; do
  check 'grep -q "$w\", \"label\": \"\(ham\|spam\)\"" <<<"$out"' "no label for $w"
done
# the empty document has no evidence: both labels from the head bias alone
e="$(grep empty.txt <<<"$out")"
check '[ -n "$(pget "$e" ham)" ]' "empty: $e"
out="$(printf 'hello\n\n\xff\xfe\nWIN MONEY NOW\n' | "$CLI" classify -m "$MODEL" --lines --json)"; rc=$?
check '[ $rc = 0 ] && [ "$(grep -c "\"line\": " <<<"$out")" = 4 ]' "--lines: $out"
"$CLI" classify -m "$MODEL" --text "" >/dev/null; rc=$?
check '[ $rc = 0 ]' "empty --text exit $rc"

# --- 5. usage and model errors ---------------------------------------------------
"$CLI" classify -m "$MODEL" >/dev/null 2>&1; rc=$?
check '[ $rc = 2 ]' "classify without input: exit $rc"
"$CLI" classify -m "$MODEL" --text a "$f1" >/dev/null 2>&1; rc=$?
check '[ $rc = 2 ]' "--text with FILE: exit $rc"
"$CLI" eval -m "$MODEL" --split test >/dev/null 2>&1; rc=$?
check '[ $rc = 2 ]' "eval without --data: exit $rc"
"$CLI" eval -m "$MODEL" --data "$DATA" --split valid >/dev/null 2>&1; rc=$?
check '[ $rc = 2 ]' "eval bad split: exit $rc"
"$CLI" classify -m "$tmp/folder" "$f1" >/dev/null 2>"$tmp/err"; rc=$?
check '[ $rc = 1 ] && grep -q "^edgeseq: error: .*config.json" "$tmp/err"' "bad model folder: $rc $(cat "$tmp/err")"

# --- 6. data verb on the sample ----------------------------------------------------
st="$("$CLI" data stats --json "$DATA")"
check 'grep -q "\"test\": {\"n\": 14, \"ham\": 8, \"spam\": 6}" <<<"$st"' "data stats: $st"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
